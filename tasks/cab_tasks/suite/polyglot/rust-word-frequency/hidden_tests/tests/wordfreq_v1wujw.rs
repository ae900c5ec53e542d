use wordfreq::{top_n, word_counts};

fn pairs_v1wujw(items: &[(&str, usize)]) -> Vec<(String, usize)> {
    items.iter().map(|&(w, c)| (w.to_string(), c)).collect()
}

#[test]
fn v1wujw_unicode_letters_fold_case() {
    assert_eq!(
        word_counts("Éclair éclair ÉCLAIR, café!"),
        pairs_v1wujw(&[("éclair", 3), ("café", 1)])
    );
}

#[test]
fn v1wujw_quotes_and_inner_apostrophes() {
    assert_eq!(
        word_counts("''hello'' 'world' rock'n'roll ' '' Rock'n'Roll"),
        pairs_v1wujw(&[("rock'n'roll", 2), ("hello", 1), ("world", 1)])
    );
}

#[test]
fn v1wujw_underscores_and_dashes_split_words() {
    assert_eq!(
        word_counts("a_b a-b A/B"),
        pairs_v1wujw(&[("a", 3), ("b", 3)])
    );
}

#[test]
fn v1wujw_top_n_after_case_folding() {
    assert_eq!(top_n("b B a A c", 5), vec!["a", "b", "c"]);
    assert_eq!(top_n("Go go GO stop", 1), vec!["go"]);
}
