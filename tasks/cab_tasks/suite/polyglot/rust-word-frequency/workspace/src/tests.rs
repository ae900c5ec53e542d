use super::*;

fn counts(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
    pairs.iter().map(|&(w, c)| (w.to_string(), c)).collect()
}

#[test]
fn basic_counts() {
    assert_eq!(
        word_counts("b a b c b a"),
        counts(&[("b", 3), ("a", 2), ("c", 1)])
    );
}

#[test]
fn ties_are_alphabetical() {
    assert_eq!(
        word_counts("pear apple fig"),
        counts(&[("apple", 1), ("fig", 1), ("pear", 1)])
    );
    assert_eq!(
        top_n("z y x y z w", 2),
        vec!["y".to_string(), "z".to_string()]
    );
}

#[test]
fn empty_input() {
    assert!(word_counts("").is_empty());
    assert!(word_counts("  \n\t ").is_empty());
    assert!(top_n("", 3).is_empty());
}

#[test]
fn case_insensitive() {
    assert_eq!(
        word_counts("The cat saw THE dog the"),
        counts(&[("the", 3), ("cat", 1), ("dog", 1), ("saw", 1)])
    );
}

#[test]
fn punctuation_splits_words() {
    assert_eq!(
        word_counts("Hello, world! Hello... world? (hello)--bye;bye"),
        counts(&[("hello", 3), ("bye", 2), ("world", 2)])
    );
    assert_eq!(
        word_counts("route66 is 66km"),
        counts(&[("66km", 1), ("is", 1), ("route66", 1)])
    );
}

#[test]
fn apostrophes_inside_words_are_kept() {
    assert_eq!(
        word_counts("Don't stop, don't! It's 'quoted' o'clock 'tis"),
        counts(&[
            ("don't", 2),
            ("it's", 1),
            ("o'clock", 1),
            ("quoted", 1),
            ("stop", 1),
            ("tis", 1)
        ])
    );
}
