use super::*;

#[test]
fn happy_path() {
    assert_eq!(parse_numbers("1, 2, 3"), Ok(vec![1, 2, 3]));
    assert_eq!(parse_numbers("42"), Ok(vec![42]));
    assert_eq!(sum_numbers(" 10 ,20,  30 "), Ok(60));
}

#[test]
fn empty() {
    assert_eq!(parse_numbers(""), Ok(vec![]));
    assert_eq!(parse_numbers("   "), Ok(vec![]));
    assert_eq!(sum_numbers(""), Ok(0));
}

#[test]
fn negative_numbers() {
    assert_eq!(parse_numbers("-1, -20,3"), Ok(vec![-1, -20, 3]));
    assert_eq!(sum_numbers("-5, 5, -5"), Ok(-5));
}

#[test]
fn bad_input_does_not_panic() {
    for input in ["1, two, 3", "abc", "1,,2", "9999999999999999999999", "1.5"] {
        let outcome = std::panic::catch_unwind(|| parse_numbers(input));
        assert!(outcome.is_ok(), "parse_numbers panicked on {:?}", input);
        assert!(
            outcome.unwrap().is_err(),
            "expected an error for {:?}",
            input
        );
    }
    let outcome = std::panic::catch_unwind(|| sum_numbers("1, x"));
    assert!(outcome.is_ok(), "sum_numbers panicked on bad input");
    assert!(outcome.unwrap().is_err());
}

#[test]
fn bad_input_reports_index_and_value() {
    let outcome = std::panic::catch_unwind(|| parse_numbers("4, 5,  abc ,6"));
    let err = outcome
        .expect("parse_numbers panicked instead of returning an error")
        .expect_err("expected an error");
    assert_eq!(err.index, 2);
    assert_eq!(err.value, "abc");
    let message = err.to_string();
    assert!(
        message.contains('2') && message.contains("abc"),
        "unhelpful message: {}",
        message
    );

    let err = std::panic::catch_unwind(|| parse_numbers("7,,8"))
        .expect("parse_numbers panicked instead of returning an error")
        .expect_err("expected an error");
    assert_eq!(
        err,
        ParseError {
            index: 1,
            value: String::new()
        }
    );
}
