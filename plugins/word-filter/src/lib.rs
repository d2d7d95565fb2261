//! The `word-filter` plugin: masks or rejects messages that contain words from a list.
//!
//! Matching ignores case (Unicode simple lower case, one character for one, so a masked
//! word keeps its length) and finds words anywhere in the text, which is what text without
//! spaces between words (Chinese, Japanese) needs. The list is compiled once per
//! configuration change into a [`Filter`]; a message without a listed word costs one pass
//! over its characters and no allocation.

use std::ops::Range;

use confab_plugin_sdk::{config, log, Hook, Message, Plugin, Verdict};
use serde::Deserialize;

/// The plugin.
pub struct WordFilter;

impl Plugin for WordFilter {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn check_config(json: &str) -> Result<(), String> {
        config::parse::<Filter>(json).map(drop)
    }

    fn filter_message(message: Message) -> Verdict {
        match config::get::<Filter>() {
            Ok(filter) => filter.verdict(&message.content),
            Err(error) => {
                // Unreachable while the server applies only checked configurations; failing
                // open matches the manifest.
                log::error(format_args!("invalid configuration, allowing: {error}"));
                Verdict::Allow
            }
        }
    }
}

confab_plugin_sdk::export!(WordFilter);

/// The configuration as written; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The words to find.
    words: Vec<String>,
    /// What to do with a message that contains one.
    mode: Mode,
    /// The code a rejected sender sees.
    code: u32,
    /// The reason a rejected sender sees. It names no word, so the list stays private.
    reason: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            words: vec!["badword".to_owned(), "spam".to_owned()],
            mode: Mode::Mask,
            code: 30013,
            reason: "message contains a blocked word / 消息包含违禁词".to_owned(),
        }
    }
}

/// What happens to a message that contains a listed word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Each character of each occurrence becomes `*`.
    #[default]
    Mask,
    /// The message is refused.
    Reject,
}

/// The longest word, in characters. Longer ones are surely mistakes, and the limit bounds
/// the work per message.
const MAX_WORD_CHARS: usize = 100;
/// The most words in the list.
const MAX_WORDS: usize = 10_000;

/// A configuration compiled for matching.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Settings")]
struct Filter {
    /// The folded words, sorted by first character, longest first within one.
    words: Vec<Vec<char>>,
    /// Each first character and the words in `words` that start with it, sorted.
    firsts: Vec<(char, Range<usize>)>,
    /// Whether some word starts with this ASCII character, in either case: most text is
    /// ASCII, and most of its characters start no word.
    ascii_firsts: [bool; 128],
    mode: Mode,
    code: u32,
    reason: String,
}

impl TryFrom<Settings> for Filter {
    type Error = String;

    fn try_from(settings: Settings) -> Result<Self, String> {
        if settings.words.len() > MAX_WORDS {
            return Err(format!("words: at most {MAX_WORDS} words"));
        }
        let mut words = Vec::with_capacity(settings.words.len());
        for (i, word) in settings.words.iter().enumerate() {
            let folded: Vec<char> = word.chars().map(fold).collect();
            if folded.is_empty() {
                return Err(format!("words[{i}] is empty"));
            }
            if folded.len() > MAX_WORD_CHARS {
                return Err(format!(
                    "words[{i}] is longer than {MAX_WORD_CHARS} characters"
                ));
            }
            words.push(folded);
        }
        words.sort_by(|a, b| a[0].cmp(&b[0]).then(b.len().cmp(&a.len())));
        words.dedup();
        let mut firsts: Vec<(char, Range<usize>)> = Vec::new();
        let mut ascii_firsts = [false; 128];
        for (i, word) in words.iter().enumerate() {
            match firsts.last_mut() {
                Some((first, range)) if *first == word[0] => range.end = i + 1,
                _ => firsts.push((word[0], i..i + 1)),
            }
            if word[0].is_ascii() {
                ascii_firsts[word[0] as usize] = true;
                ascii_firsts[word[0].to_ascii_uppercase() as usize] = true;
            }
        }
        Ok(Filter {
            words,
            firsts,
            ascii_firsts,
            mode: settings.mode,
            code: settings.code,
            reason: settings.reason,
        })
    }
}

impl Filter {
    /// What happens to a message with this text.
    fn verdict(&self, text: &str) -> Verdict {
        match self.mode {
            Mode::Reject if self.find(text, 0).is_some() => {
                Verdict::reject(self.code, self.reason.as_str())
            }
            Mode::Reject => Verdict::Allow,
            Mode::Mask => self.mask(text).map_or(Verdict::Allow, Verdict::Rewrite),
        }
    }

    /// `text` with every character of every listed word replaced by `*`, or `None` when
    /// it contains none. Overlapping occurrences are masked together.
    fn mask(&self, text: &str) -> Option<String> {
        let mut masked: Option<String> = None;
        // Bytes of `text` before this offset are in `masked` already.
        let mut done = 0;
        let mut from = 0;
        while let Some((start, end)) = self.find(text, from) {
            if end > done {
                let out = masked.get_or_insert_with(|| String::with_capacity(text.len()));
                let new = start.max(done);
                out.push_str(&text[done..new]);
                out.extend(text[new..end].chars().map(|_| '*'));
                done = end;
            }
            // Words overlapping this one start after its first character.
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
        masked.map(|mut out| {
            out.push_str(&text[done..]);
            out
        })
    }

    /// The byte range of the longest listed word at the first place in `text` at or after
    /// byte `from` (a character boundary) where one starts.
    fn find(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let bytes = text.as_bytes();
        let mut at = from;
        // Most characters start no word: an ASCII one is ruled out by one table lookup,
        // the bytes inside a longer one are skipped, and only the first byte of a non-ASCII
        // character costs a decoding and a search.
        while let Some(&byte) = bytes.get(at) {
            let candidate = match byte {
                0..=0x7F => self.ascii_firsts[usize::from(byte)],
                0x80..=0xBF => false,
                _ => true,
            };
            if candidate {
                if let Some(len) = self.longest_at(&text[at..]) {
                    return Some((at, at + len));
                }
            }
            at += 1;
        }
        None
    }

    /// The byte length of the longest listed word at the start of `rest`.
    fn longest_at(&self, rest: &str) -> Option<usize> {
        let first = fold(rest.chars().next()?);
        let i = self.firsts.binary_search_by(|(c, _)| c.cmp(&first)).ok()?;
        // Longest first, so the first match is the longest.
        self.words[self.firsts[i].1.clone()]
            .iter()
            .find_map(|word| matched_len(rest, word))
    }
}

/// The byte length of `word` (folded) at the start of `rest`, if it is there.
fn matched_len(rest: &str, word: &[char]) -> Option<usize> {
    let mut chars = rest.char_indices();
    for &expected in word {
        let (_, c) = chars.next()?;
        if fold(c) != expected {
            return None;
        }
    }
    Some(chars.next().map_or(rest.len(), |(at, _)| at))
}

/// `c` in lower case, as one character: Unicode's simple lower-case mapping. (Only `İ`
/// has a longer full mapping, which starts with its simple one.)
#[inline]
fn fold(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(json: &str) -> Filter {
        config::parse(json).expect("a valid configuration")
    }

    fn masked(filter: &Filter, text: &str) -> String {
        match filter.verdict(text) {
            Verdict::Rewrite(text) => text,
            Verdict::Allow => text.to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn the_defaults_mask_the_default_words() {
        let filter = compile("{}");
        assert_eq!(masked(&filter, "no SPAM please"), "no **** please");
        assert_eq!(filter.verdict("hello there"), Verdict::Allow);
    }

    #[test]
    fn masking_keeps_the_character_count_and_ignores_case() {
        let filter = compile(r#"{"words": ["Straße", "ÉCOLE", "坏词"]}"#);
        assert_eq!(
            masked(&filter, "die STRASSE, die straße"),
            "die STRASSE, die ******"
        );
        assert_eq!(masked(&filter, "l'école, L'ÉCOLE"), "l'*****, L'*****");
        assert_eq!(masked(&filter, "这是坏词吗"), "这是**吗");
        let turkish = compile(r#"{"words": ["istanbul"]}"#);
        assert_eq!(masked(&turkish, "İSTANBUL"), "********");
    }

    #[test]
    fn overlapping_and_repeated_words_are_all_masked() {
        let filter = compile(r#"{"words": ["abc", "cde", "b"]}"#);
        assert_eq!(masked(&filter, "xabcdex"), "x*****x");
        assert_eq!(masked(&filter, "bbb b"), "*** *");
        assert_eq!(masked(&filter, "ab"), "a*");
    }

    #[test]
    fn masking_agrees_with_a_character_by_character_reference() {
        // The reference: a character is masked when some word matches at a character at or
        // before it and reaches over it.
        fn reference(words: &[&str], text: &str) -> String {
            let chars: Vec<char> = text.chars().collect();
            let mut masked = vec![false; chars.len()];
            for start in 0..chars.len() {
                for word in words {
                    let word: Vec<char> = word.chars().map(fold).collect();
                    let here = chars[start..].iter().map(|&c| fold(c));
                    if chars.len() - start >= word.len()
                        && here.take(word.len()).eq(word.iter().copied())
                    {
                        masked[start..start + word.len()]
                            .iter_mut()
                            .for_each(|m| *m = true);
                    }
                }
            }
            chars
                .iter()
                .zip(masked)
                .map(|(&c, m)| if m { '*' } else { c })
                .collect()
        }
        let words = ["ab", "bab", "ÄÖ", "日本", "k", "aa"];
        let json = format!(r#"{{"words": {words:?}}}"#);
        let filter = compile(&json);
        for text in [
            "",
            "a",
            "ab",
            "aab",
            "babab",
            "xäöx",
            "ÄöÄÖ",
            "日本語と日本",
            "\u{212A}elvin",
            "aaa",
            "KaAb",
            "über ab 日本 k",
        ] {
            assert_eq!(masked(&filter, text), reference(&words, text), "{text}");
        }
    }

    #[test]
    fn the_longest_word_at_a_place_wins() {
        let filter = compile(r#"{"words": ["spam", "spammer"]}"#);
        assert_eq!(masked(&filter, "a spammer!"), "a *******!");
    }

    #[test]
    fn reject_mode_names_no_word() {
        let filter = compile(r#"{"words": ["secret"], "mode": "reject"}"#);
        let Verdict::Reject(rejection) = filter.verdict("my SECRET") else {
            panic!("should reject");
        };
        assert_eq!(rejection.code, 30013);
        assert!(!rejection.reason.to_lowercase().contains("secret"));
        assert_eq!(filter.verdict("nothing here"), Verdict::Allow);

        let custom =
            compile(r#"{"words": ["x"], "mode": "reject", "code": 40001, "reason": "no"}"#);
        assert_eq!(custom.verdict("x"), Verdict::reject(40001, "no"));
    }

    #[test]
    fn an_empty_list_allows_everything() {
        let filter = compile(r#"{"words": []}"#);
        assert_eq!(filter.verdict("spam"), Verdict::Allow);
        assert_eq!(filter.verdict(""), Verdict::Allow);
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (json, needle) in [
            (r#"{"words": ["ok", ""]}"#, "words[1] is empty"),
            (r#"{"mode": "shout"}"#, "shout"),
            (r#"{"wrods": []}"#, "wrods"),
            (r#"{"words": "spam"}"#, "invalid type"),
            (r#"{"code": -1}"#, "invalid value"),
        ] {
            let error = WordFilter::check_config(json).expect_err(json);
            assert!(error.contains(needle), "{json}: {error}");
        }
        let long = format!(r#"{{"words": ["{}"]}}"#, "a".repeat(MAX_WORD_CHARS + 1));
        assert!(WordFilter::check_config(&long).is_err());
        assert!(WordFilter::check_config(r#"{"words": ["a"], "mode": "reject"}"#).is_ok());
    }

    #[test]
    fn the_manifest_matches_the_plugin() {
        confab_plugin_sdk::testing::check_manifest::<WordFilter>(include_str!("../plugin.toml"))
            .expect("plugin.toml");
    }
}
