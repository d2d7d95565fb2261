//! Paged lists: `limit` and `after` in the request, the next page's cursor in a header.
//!
//! The seed's list routes answer a plain array in `data`, and its clients read nothing
//! else, so the array stays as it was and the cursor travels in `X-Next-After`: the id to
//! pass as `after` for the next page, present only when more entries remain. A seed client
//! that ignores it sees the first page, which holds everything for any list shorter than
//! [`MAX_PAGE`].

use axum::http::HeaderValue;
use axum::response::Response;

use crate::api::params::Params;
use crate::error::{Error, Result};
use crate::store::Page;

/// The largest page, and the page size when `limit` is not given.
pub const MAX_PAGE: u32 = 1000;

/// The response header with the cursor of the next page.
pub const NEXT_AFTER: &str = "x-next-after";

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paging {
    after: i64,
    limit: u32,
}

impl Paging {
    /// Reads `limit` (1 to [`MAX_PAGE`], default [`MAX_PAGE`]) and `after` (an id, 0 or
    /// more, default 0).
    pub(super) fn from_params(params: &Params) -> Result<Self> {
        Self::within(params, MAX_PAGE, MAX_PAGE)
    }

    /// Reads `limit` and `after` when the request names either, for a list that answers
    /// whole (in an order of its own) when it names neither.
    pub(super) fn requested(params: &Params) -> Result<Option<Self>> {
        let named = params.int(&["limit"])?.is_some() || params.int(&["after"])?.is_some();
        named.then(|| Self::from_params(params)).transpose()
    }

    /// Reads `limit` (1 to `max`, default `default`) and `after` (0 or more, default 0).
    pub(super) fn within(params: &Params, default: u32, max: u32) -> Result<Self> {
        let limit = match params.int(&["limit"])? {
            None => default,
            Some(n) if (1..=i64::from(max)).contains(&n) => n as u32,
            Some(n) => {
                return Err(Error::invalid(format!(
                    "limit must be between 1 and {max}, not {n}"
                )))
            }
        };
        let after = match params.int(&["after"])? {
            None => 0,
            Some(n) if n >= 0 => n,
            Some(n) => return Err(Error::invalid(format!("after must be 0 or more, not {n}"))),
        };
        Ok(Self { after, limit })
    }

    /// The cursor the page starts after; 0: the start.
    pub(super) fn after(self) -> i64 {
        self.after
    }

    /// What to ask the store for: one entry more than the page, to know whether more remain.
    pub(super) fn store_page(self) -> Page {
        Page {
            after: self.after,
            limit: self.limit + 1,
        }
    }

    /// The page within `items` (as fetched with [`Paging::store_page`]), and the cursor of
    /// the next page when more remain.
    pub(super) fn split<T>(
        self,
        mut items: Vec<T>,
        id: impl Fn(&T) -> i64,
    ) -> (Vec<T>, Option<i64>) {
        let more = items.len() > self.limit as usize;
        items.truncate(self.limit as usize);
        let next = if more { items.last().map(id) } else { None };
        (items, next)
    }
}

/// `response` with the next page's cursor, if there is one.
pub(super) fn with_next(mut response: Response, next: Option<i64>) -> Response {
    if let Some(next) = next {
        response
            .headers_mut()
            .insert(NEXT_AFTER, HeaderValue::from(next));
    }
    response
}
