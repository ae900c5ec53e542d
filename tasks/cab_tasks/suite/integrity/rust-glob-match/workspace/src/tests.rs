use super::*;

fn yes(pattern: &str, text: &str) {
    assert!(
        glob_match(pattern, text),
        "{:?} should match {:?}",
        pattern,
        text
    );
}

fn no(pattern: &str, text: &str) {
    assert!(
        !glob_match(pattern, text),
        "{:?} should NOT match {:?}",
        pattern,
        text
    );
}

#[test]
fn literals_and_question_mark() {
    yes("abc", "abc");
    yes("a?c", "abc");
    yes("", "");
    no("a?c", "ac");
    no("abc", "abcd");
    no("abc", "ab");
}

#[test]
fn star_within_a_component() {
    yes("*.rs", "main.rs");
    yes("*", "");
    yes("a*", "a");
    yes("*a*b*c*", "xxaxxbxxcxx");
    no("*a*b*c*", "xxcxxbxxaxx");
    no("*.rs", "main.rs.bak");
}

#[test]
fn star_and_question_do_not_cross_slash() {
    no("*.rs", "src/main.rs");
    no("src/*", "src/a/b");
    no("?", "/");
    no("a?b", "a/b");
    yes("src/*/mod.rs", "src/net/mod.rs");
    no("src/*/mod.rs", "src/net/tcp/mod.rs");
}

#[test]
fn double_star() {
    yes("src/**/*.rs", "src/main.rs");
    yes("src/**/*.rs", "src/a/b/c.rs");
    yes("**/*.rs", "x.rs");
    yes("**/*.rs", "a/b/x.rs");
    yes("**", "a/b/c");
    yes("src/**", "src/a/b");
    yes("a/**/b/**/c", "a/b/c");
    yes("a/**/b/**/c", "a/x/b/y/z/c");
    no("src/**/*.rs", "lib/main.rs");
    no("src/**/test.rs", "src/mytest.rs");
    no("a/**/b", "a/xb");
}

#[test]
fn character_classes() {
    yes("[abc].txt", "b.txt");
    no("[abc].txt", "d.txt");
    yes("file[0-9].log", "file7.log");
    no("file[0-9].log", "filex.log");
    yes("[!a-c]x", "dx");
    no("[!a-c]x", "bx");
    yes("[a-cx-z]", "y");
    no("a[/]b", "a/b");
    no("a[!x]b", "a/b");
}

#[test]
fn escapes_and_literal_brackets() {
    yes("\\*.txt", "*.txt");
    no("\\*.txt", "a.txt");
    yes("a\\?", "a?");
    no("a\\?", "ab");
    yes("\\[x]", "[x]");
    no("\\[x]", "x");
    yes("[abc", "[abc");
    yes("x[", "x[");
}
