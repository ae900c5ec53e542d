use pathglob::glob_match;

#[test]
fn r6ld88_double_star_forms() {
    assert!(glob_match("docs/**/*.md", "docs/a.md"));
    assert!(glob_match("docs/**/*.md", "docs/x/y/z.md"));
    assert!(!glob_match("docs/**/*.md", "docs.md"));
    assert!(!glob_match("docs/**/*.md", "docs/a.mdx"));
    assert!(glob_match("**/Cargo.toml", "Cargo.toml"));
    assert!(glob_match("**/Cargo.toml", "crates/core/Cargo.toml"));
    assert!(!glob_match("**/Cargo.toml", "xCargo.toml"));
    assert!(glob_match("a**b", "a/x/b"));
}

#[test]
fn r6ld88_classes_ranges_and_unclosed() {
    assert!(glob_match("[!0-9]x", "ax"));
    assert!(!glob_match("[!0-9]x", "5x"));
    assert!(glob_match("v[0-9][0-9]", "v42"));
    assert!(!glob_match("v[0-9][0-9]", "v4x"));
    assert!(glob_match("a[b", "a[b"));
    assert!(glob_match("[!ab", "[!ab"));
    assert!(!glob_match("*[!/]", "a/"));
}

#[test]
fn r6ld88_escapes_and_unicode() {
    assert!(glob_match("a\\*b", "a*b"));
    assert!(!glob_match("a\\*b", "axxb"));
    assert!(glob_match("\\\\", "\\"));
    assert!(glob_match("caf?", "café"));
    assert!(glob_match("*/??.txt", "dir/ab.txt"));
    assert!(!glob_match("*/??.txt", "a/b/ab.txt"));
}
