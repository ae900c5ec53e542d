//! Matching of `/`-separated paths against glob patterns.

/// Returns true if the whole of `text` matches `pattern`.
///
/// Pattern syntax:
/// * `?` matches exactly one character other than `/`.
/// * `*` matches any sequence (possibly empty) of characters other than `/`.
/// * `**` matches any sequence of characters, including `/`. When `**` is a
///   whole path component followed by `/` (i.e. `**/` at the start of the
///   pattern or right after a `/`), it matches zero or more whole directories,
///   so `src/**/*.rs` matches both `src/main.rs` and `src/a/b/c.rs`.
/// * `[abc]` matches one of the listed characters, `[a-z]` one character in
///   the range, and `[!...]` negates the class. A class never matches `/`.
///   A `[` without a closing `]` is an ordinary character.
/// * `\x` matches the character `x` literally (e.g. `\*`, `\?`, `\[`).
/// * Every other character matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_from(&p, &t)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => match_from(&p[1..], t) || (!t.is_empty() && match_from(p, &t[1..])),
        Some('?') => !t.is_empty() && match_from(&p[1..], &t[1..]),
        Some(&c) => !t.is_empty() && t[0] == c && match_from(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests;
