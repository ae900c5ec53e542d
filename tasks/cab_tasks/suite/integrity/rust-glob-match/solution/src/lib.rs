//! Matching of `/`-separated paths against glob patterns.

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A character that must match exactly.
    Literal(char),
    /// `?`
    AnyChar,
    /// `*`
    Star,
    /// `**` not followed by a `/` component boundary.
    DoubleStar,
    /// `**/` as a whole path component: zero or more whole directories.
    Directories,
    /// `[...]`
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

fn tokenize(pattern: &str) -> Vec<Token> {
    let p: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => {
                tokens.push(Token::Literal(p[i + 1]));
                i += 2;
            }
            '?' => {
                tokens.push(Token::AnyChar);
                i += 1;
            }
            '*' => {
                if i + 1 < p.len() && p[i + 1] == '*' {
                    let at_component_start = i == 0 || p[i - 1] == '/';
                    if at_component_start && i + 2 < p.len() && p[i + 2] == '/' {
                        tokens.push(Token::Directories);
                        i += 3;
                    } else {
                        tokens.push(Token::DoubleStar);
                        i += 2;
                        // Further stars directly after `**` add nothing.
                        while i < p.len() && p[i] == '*' {
                            i += 1;
                        }
                    }
                } else {
                    tokens.push(Token::Star);
                    i += 1;
                }
            }
            '[' => match parse_class(&p, i) {
                Some((token, next)) => {
                    tokens.push(token);
                    i = next;
                }
                None => {
                    tokens.push(Token::Literal('['));
                    i += 1;
                }
            },
            c => {
                tokens.push(Token::Literal(c));
                i += 1;
            }
        }
    }
    tokens
}

/// Parse a class starting at `p[start] == '['`. Returns the token and the
/// index just past the closing `]`, or `None` if the class is unterminated.
fn parse_class(p: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = i < p.len() && p[i] == '!';
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            ranges.push((c, p[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

fn single_char_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyChar => c != '/',
        Token::Class { negated, ranges } => {
            c != '/' && (ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
        }
        _ => false,
    }
}

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
    let tokens = tokenize(pattern);
    let t: Vec<char> = text.chars().collect();
    let (m, n) = (tokens.len(), t.len());
    // dp[i][j]: tokens[i..] matches t[j..]. Filled from the end.
    let mut dp = vec![vec![false; n + 1]; m + 1];
    dp[m][n] = true;
    for i in (0..m).rev() {
        for j in (0..=n).rev() {
            dp[i][j] = match &tokens[i] {
                Token::Star => dp[i + 1][j] || (j < n && t[j] != '/' && dp[i][j + 1]),
                Token::DoubleStar => dp[i + 1][j] || (j < n && dp[i][j + 1]),
                Token::Directories => {
                    // Empty, or any run of characters that ends with '/'.
                    dp[i + 1][j] || (j..n).any(|k| t[k] == '/' && dp[i + 1][k + 1])
                }
                token => j < n && single_char_matches(token, t[j]) && dp[i + 1][j + 1],
            };
        }
    }
    dp[0][0]
}

#[cfg(test)]
mod tests;
