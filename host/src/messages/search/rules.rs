//! The rules of a search request: the words of `q`, the time window, the page size.

use super::{Direct, Scope, SearchQuery, SearchRequest, DEFAULT_PAGE, MAX_PAGE, MAX_QUERY_CHARS};
use crate::error::{Error, Result};
use crate::users::UserId;

/// The request's rules: everything but where to look (the scope comes back empty).
pub(super) fn check(viewer: UserId, request: &SearchRequest) -> Result<SearchQuery> {
    if request.with.is_some() && request.group.is_some() {
        return Err(Error::invalid(
            "give with or group_id to search one conversation, not both",
        ));
    }
    let since_ms = millis("since", request.since)?;
    let until_ms = millis("until", request.until)?;
    if let (Some(since), Some(until)) = (request.since, request.until) {
        if since >= until {
            return Err(Error::invalid(format!(
                "since must be before until, but {since} is not before {until}"
            )));
        }
    }
    let limit = match request.limit {
        None => DEFAULT_PAGE,
        Some(n) if (1..=i64::from(MAX_PAGE)).contains(&n) => n as u32,
        Some(n) => {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_PAGE}, not {n}"
            )))
        }
    };
    Ok(SearchQuery {
        viewer,
        terms: terms(&request.text)?,
        scope: Scope {
            direct: Direct::None,
            groups: Vec::new(),
        },
        sender: request.sender,
        since_ms,
        until_ms,
        before_id: request.before,
        limit,
    })
}

/// The words of a query: split at white space, each kept once, in order.
fn terms(text: &str) -> Result<Vec<String>> {
    let chars = text.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(Error::invalid(format!(
            "q must be at most {MAX_QUERY_CHARS} characters, not {chars}"
        )));
    }
    let mut terms: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        if !terms.iter().any(|t| t == word) {
            terms.push(word.to_owned());
        }
    }
    if terms.is_empty() {
        return Err(Error::invalid("q is required: the words to search for"));
    }
    Ok(terms)
}

/// Unix seconds as milliseconds, refusing times before 1970 or past the year 9999.
fn millis(name: &str, seconds: Option<i64>) -> Result<Option<i64>> {
    const LAST_SECOND: i64 = 253_402_300_799;
    match seconds {
        None => Ok(None),
        Some(s) if (0..=LAST_SECOND).contains(&s) => Ok(Some(s * 1000)),
        Some(s) => Err(Error::invalid(format!(
            "{name} must be unix seconds from 0 to {LAST_SECOND}, not {s}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> SearchRequest {
        SearchRequest {
            text: text.to_owned(),
            ..SearchRequest::default()
        }
    }

    #[test]
    fn words_are_split_once_each() {
        assert_eq!(
            terms("  hello 世界\tHello hello ").expect("terms"),
            ["hello", "世界", "Hello"]
        );
    }

    #[test]
    fn empty_and_long_queries_are_refused() {
        for text in ["", "   \t"] {
            let err = terms(text).expect_err("empty");
            assert!(err.to_string().contains("q is required"), "{err}");
        }
        let longest = "字".repeat(MAX_QUERY_CHARS);
        assert!(terms(&longest).is_ok());
        let err = terms(&format!("{longest}字")).expect_err("too long");
        assert!(err.to_string().contains("at most 100 characters"), "{err}");
    }

    #[test]
    fn filters_are_checked() {
        let both = SearchRequest {
            with: Some(2),
            group: Some(3),
            ..request("x")
        };
        assert!(check(1, &both).is_err());
        let backwards = SearchRequest {
            since: Some(20),
            until: Some(10),
            ..request("x")
        };
        assert!(check(1, &backwards).is_err());
        let negative = SearchRequest {
            since: Some(-1),
            ..request("x")
        };
        assert!(check(1, &negative).is_err());
        for limit in [0, 101] {
            let bad = SearchRequest {
                limit: Some(limit),
                ..request("x")
            };
            assert!(check(1, &bad).is_err(), "limit {limit}");
        }
        let good = SearchRequest {
            since: Some(10),
            until: Some(20),
            limit: Some(5),
            ..request("x")
        };
        let query = check(1, &good).expect("valid");
        assert_eq!(
            (query.since_ms, query.until_ms, query.limit),
            (Some(10_000), Some(20_000), 5)
        );
    }
}
