//! Conversion between integers and Roman numerals (1..=3999, upper case).

const VALUES: [(u32, &str); 13] = [
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
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
    match c {
        'I' => Some(1),
        'V' => Some(5),
        'X' => Some(10),
        'L' => Some(50),
        'C' => Some(100),
        'D' => Some(500),
        'M' => Some(1000),
        _ => None,
    }
}

/// Parse a canonical upper-case Roman numeral. Returns `None` for empty
/// input, unknown characters, or numerals that are not in canonical form.
pub fn from_roman(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if s.len() > 15 {
        return None; // longest canonical numeral is MMMDCCCLXXXVIII
    }
    let values: Vec<i64> = s
        .chars()
        .map(symbol_value)
        .collect::<Option<Vec<u32>>>()?
        .into_iter()
        .map(i64::from)
        .collect();
    let mut total: i64 = 0;
    for (i, &v) in values.iter().enumerate() {
        match values.get(i + 1) {
            Some(&next) if next > v => total -= v,
            _ => total += v,
        }
    }
    if !(1..=3999).contains(&total) {
        return None;
    }
    let total = total as u32;
    // Only accept the canonical spelling of the value.
    if to_roman(total).as_deref() == Some(s) {
        Some(total)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
