use numlist::{parse_numbers, sum_numbers, ParseError};

fn err_w6rvii(index: usize, value: &str) -> ParseError {
    ParseError {
        index,
        value: value.to_string(),
    }
}

#[test]
fn w6rvii_first_bad_item_is_reported() {
    assert_eq!(parse_numbers("1, x, y"), Err(err_w6rvii(1, "x")));
    assert_eq!(parse_numbers("1,2,"), Err(err_w6rvii(2, "")));
    assert_eq!(parse_numbers("1, \t ,2"), Err(err_w6rvii(1, "")));
}

#[test]
fn w6rvii_out_of_range_is_an_error_not_a_panic() {
    assert_eq!(
        parse_numbers("-9223372036854775808, 9223372036854775807"),
        Ok(vec![i64::MIN, i64::MAX])
    );
    assert_eq!(
        parse_numbers("1, 9223372036854775808"),
        Err(err_w6rvii(1, "9223372036854775808"))
    );
}

fn total_w6rvii(input: &str) -> Result<i64, Box<dyn std::error::Error>> {
    Ok(sum_numbers(input)? * 2)
}

#[test]
fn w6rvii_errors_propagate_through_question_mark() {
    assert_eq!(sum_numbers("3, 4, 5x"), Err(err_w6rvii(2, "5x")));
    let err = total_w6rvii("7, 0xff").expect_err("expected an error");
    let message = err.to_string();
    assert!(message.contains("0xff") && message.contains('1'), "unhelpful message: {}", message);
    assert_eq!(total_w6rvii(" 1 , 2 ").unwrap(), 6);
}
