//! The text of a search's full-text and LIKE conditions, made from its terms.
//!
//! A full-text condition must never miss a row that holds the terms, so on MySQL and
//! MariaDB it uses only what their parsers surely index: runs of letters and digits of the
//! scripts in [`indexable`]. Anything else in a term is left to LIKE, which checks every
//! term there anyway.

/// The length of the tokens of SQLite's trigram tokenizer and of MariaDB's `search_grams`.
pub(super) const TRIGRAM: usize = 3;

/// An FTS5 query requiring every term, each as a quoted string (which the trigram
/// tokenizer finds anywhere in the text). Inside quotes FTS5 has no operators; a quote is
/// written twice.
pub(super) fn fts5_query(terms: &[&str]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A boolean-mode query for MySQL's ngram index, tokens of `size` characters: each term
/// the index can find, as a required phrase (the parser makes its n-grams). `None` when no
/// term can use the index.
pub(super) fn ngram_query(terms: &[String], size: usize) -> Option<String> {
    let phrases: Vec<String> = terms
        .iter()
        .filter(|t| t.chars().count() >= size && t.chars().all(indexable))
        .map(|t| format!("+\"{t}\""))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" "))
}

/// A boolean-mode query for MariaDB's `search_grams`: every run of three indexable
/// characters in the terms, each required. `None` when there is none.
pub(super) fn grams_query(terms: &[String]) -> Option<String> {
    let mut grams: Vec<String> = Vec::new();
    for term in terms {
        let chars: Vec<char> = term.chars().collect();
        for window in chars.windows(TRIGRAM) {
            if window.iter().all(|c| indexable(*c)) {
                let gram = format!("+{}", window.iter().collect::<String>());
                if !grams.contains(&gram) {
                    grams.push(gram);
                }
            }
        }
    }
    (!grams.is_empty()).then(|| grams.join(" "))
}

/// `term` as a LIKE pattern with `!` as the escape character (chosen over `\`, whose
/// meaning in string literals depends on the MySQL server's SQL mode).
pub(super) fn like_escape(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '!' | '%' | '_') {
            escaped.push('!');
        }
        escaped.push(c);
    }
    escaped
}

/// Whether MySQL's and MariaDB's full-text parsers surely count `c` as part of a word:
/// ASCII letters and digits, and the letters of the Latin, Greek, Cyrillic, Japanese kana,
/// Chinese and Korean blocks. Other letters may be too, but a character wrongly taken
/// for one would make the index miss rows, so they are left to LIKE.
fn indexable(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    let letter = c.is_alphabetic();
    match u32::from(c) {
        0x00C0..=0x024F | 0x0386..=0x04FF => letter,
        // Hiragana, katakana, CJK unified ideographs, Hangul syllables.
        0x3041..=0x3096 | 0x30A1..=0x30FA | 0x4E00..=0x9FFF | 0xAC00..=0xD7A3 => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(terms: &[&str]) -> Vec<String> {
        terms.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn fts5_terms_are_quoted_strings() {
        assert_eq!(
            fts5_query(&["hello", "say \"hi\"", "OR"]),
            r#""hello" "say ""hi""" "OR""#
        );
    }

    #[test]
    fn ngram_phrases_skip_what_the_parser_may_split() {
        assert_eq!(
            ngram_query(&owned(&["中文", "a", "x+y", "Café"]), 2).as_deref(),
            Some("+\"中文\" +\"Café\"")
        );
        assert_eq!(ngram_query(&owned(&["a", "b-c"]), 2), None);
    }

    #[test]
    fn grams_are_the_indexable_trigrams_of_every_term() {
        assert_eq!(
            grams_query(&owned(&["hello", "搜索中文", "a.bcd", "hell"])).as_deref(),
            Some("+hel +ell +llo +搜索中 +索中文 +bcd")
        );
        assert_eq!(grams_query(&owned(&["ab", "x²y", "中文"])), None);
    }

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(like_escape("50%_off!"), "50!%!_off!!");
        assert_eq!(like_escape("中文"), "中文");
    }
}
