use roman::{from_roman, to_roman};

#[test]
fn round_trip_all_values() {
    for n in 1..=3999u32 {
        let s = to_roman(n).expect("in range");
        assert_eq!(
            from_roman(&s),
            Some(n),
            "round trip failed for {} ({})",
            n,
            s
        );
    }
}

#[test]
fn lowercase_is_rejected() {
    assert_eq!(from_roman("xiv"), None);
    assert_eq!(from_roman("XIV"), Some(14));
}

#[test]
fn numeral_lengths() {
    assert_eq!(to_roman(3888).as_deref(), Some("MMMDCCCLXXXVIII"));
    assert_eq!(to_roman(444).as_deref(), Some("CDXLIV"));
    assert_eq!(from_roman("CDXLIV"), Some(444));
}
