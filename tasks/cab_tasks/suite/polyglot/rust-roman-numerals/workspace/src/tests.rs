use super::*;

#[test]
fn additive_numbers() {
    assert_eq!(to_roman(3).as_deref(), Some("III"));
    assert_eq!(to_roman(8).as_deref(), Some("VIII"));
    assert_eq!(to_roman(1666).as_deref(), Some("MDCLXVI"));
    assert_eq!(from_roman("MDCLXVI"), Some(1666));
    assert_eq!(from_roman("XXII"), Some(22));
}

#[test]
fn subtractive_to_roman() {
    assert_eq!(to_roman(4).as_deref(), Some("IV"));
    assert_eq!(to_roman(9).as_deref(), Some("IX"));
    assert_eq!(to_roman(14).as_deref(), Some("XIV"));
    assert_eq!(to_roman(40).as_deref(), Some("XL"));
    assert_eq!(to_roman(90).as_deref(), Some("XC"));
    assert_eq!(to_roman(400).as_deref(), Some("CD"));
    assert_eq!(to_roman(1994).as_deref(), Some("MCMXCIV"));
    assert_eq!(to_roman(3999).as_deref(), Some("MMMCMXCIX"));
}

#[test]
fn subtractive_from_roman() {
    assert_eq!(from_roman("IV"), Some(4));
    assert_eq!(from_roman("XLII"), Some(42));
    assert_eq!(from_roman("CM"), Some(900));
    assert_eq!(from_roman("MCMXCIV"), Some(1994));
}

#[test]
fn out_of_range() {
    assert_eq!(to_roman(0), None);
    assert_eq!(to_roman(4000), None);
}

#[test]
fn invalid_characters() {
    assert_eq!(from_roman(""), None);
    assert_eq!(from_roman("ABC"), None);
    assert_eq!(from_roman("X1"), None);
}

#[test]
fn rejects_non_canonical() {
    for s in ["IIII", "VV", "IC", "XM", "IIV", "MMMM", "VX"] {
        assert_eq!(from_roman(s), None, "{:?} should be rejected", s);
    }
}
