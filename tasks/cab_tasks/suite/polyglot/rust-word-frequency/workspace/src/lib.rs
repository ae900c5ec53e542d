//! Word frequency counting.

use std::collections::HashMap;

/// Split `text` into words.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(|w| w.to_string()).collect()
}

/// Count the words in `text`.
///
/// The result is sorted by count (highest first) and then alphabetically.
pub fn word_counts(text: &str) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in words(text) {
        *counts.entry(word).or_insert(0) += 1;
    }
    let mut result: Vec<(String, usize)> = counts.into_iter().collect();
    result.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    result
}

/// The `n` most frequent words (ties broken alphabetically).
pub fn top_n(text: &str, n: usize) -> Vec<String> {
    word_counts(text)
        .into_iter()
        .take(n)
        .map(|(w, _)| w)
        .collect()
}

#[cfg(test)]
mod tests;
