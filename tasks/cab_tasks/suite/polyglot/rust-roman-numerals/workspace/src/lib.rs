//! Conversion between integers and Roman numerals (1..=3999, upper case).

const VALUES: [(u32, &str); 7] = [
    (1000, "M"),
    (500, "D"),
    (100, "C"),
    (50, "L"),
    (10, "X"),
    (5, "V"),
    (1, "I"),
];

/// Convert `n` to its canonical Roman numeral. Returns `None` unless `1 <= n <= 3999`.
pub fn to_roman(n: u32) -> Option<String> {
    if n == 0 || n > 3999 {
        return None;
    }
    let mut rest = n;
    let mut out = String::new();
    for &(value, symbol) in VALUES.iter() {
        while rest >= value {
            out.push_str(symbol);
            rest -= value;
        }
    }
    Some(out)
}

fn symbol_value(c: char) -> Option<u32> {
    VALUES
        .iter()
        .find(|(_, s)| s.starts_with(c))
        .map(|&(v, _)| v)
}

/// Parse a canonical upper-case Roman numeral. Returns `None` for empty
/// input, unknown characters, or numerals that are not in canonical form.
pub fn from_roman(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0;
    for c in s.chars() {
        total += symbol_value(c)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests;
