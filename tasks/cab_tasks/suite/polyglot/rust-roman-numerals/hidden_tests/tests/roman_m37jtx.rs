use roman::{from_roman, to_roman};

#[test]
fn m37jtx_subtractive_pairs_in_every_position() {
    assert_eq!(to_roman(949).as_deref(), Some("CMXLIX"));
    assert_eq!(to_roman(2419).as_deref(), Some("MMCDXIX"));
    assert_eq!(from_roman("CMXLIX"), Some(949));
    assert_eq!(from_roman("MMCDXIX"), Some(2419));
}

#[test]
fn m37jtx_non_canonical_spellings_are_rejected() {
    for s in ["XXXX", "DD", "LL", "IL", "XD", "CMC", "IXI", "XCX", "MMMCMXCIXI", " X", "X "] {
        assert_eq!(from_roman(s), None, "{:?} should be rejected", s);
    }
}

#[test]
fn m37jtx_every_canonical_numeral_round_trips() {
    for n in (1..=3999u32).step_by(7) {
        let s = to_roman(n).expect("in range");
        assert_eq!(from_roman(&s), Some(n), "{} -> {}", n, s);
    }
}
