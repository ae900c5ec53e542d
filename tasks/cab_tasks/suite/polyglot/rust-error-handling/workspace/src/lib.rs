//! Parsing of comma-separated number lists typed in by users.

use std::fmt;

/// Error returned when an item of the input list is not a valid integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Zero-based position of the offending item in the list.
    pub index: usize,
    /// The offending item, with surrounding whitespace removed.
    pub value: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "item {} ({:?}) is not a valid integer",
            self.index, self.value
        )
    }
}

impl std::error::Error for ParseError {}

/// Parse a comma-separated list of integers such as `"1, 2, -3"`.
///
/// Whitespace around items is ignored. An empty (or all-whitespace) input
/// yields an empty list.
pub fn parse_numbers(input: &str) -> Result<Vec<i64>, ParseError> {
    if input.trim().is_empty() {
        return Ok(Vec::new());
    }
    let numbers = input
        .split(',')
        .map(|item| item.trim().parse::<i64>().unwrap())
        .collect();
    Ok(numbers)
}

/// Sum of the numbers in a comma-separated list.
pub fn sum_numbers(input: &str) -> Result<i64, ParseError> {
    Ok(parse_numbers(input)?.iter().sum())
}

#[cfg(test)]
mod tests;
