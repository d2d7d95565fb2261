//! Message search on MongoDB: a case-insensitive regular expression per term, over the
//! conversations the viewer can read, newest first.
//!
//! MongoDB's text index is not used: it splits text into words at spaces and punctuation
//! and stems them, so it finds neither a part of a word nor a Chinese word inside a
//! sentence, which the SQL backends find; and SecantusDB, the MongoDB-wire server of the
//! tests, has no text index at all. A regular expression finds what the SQL backends find,
//! on both. The price is a scan, newest first until the page is full (through the
//! `conv_id` index when the search names one conversation). The messages the viewer hid
//! are looked up for each batch read and skipped.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::FindOptions;
use serde::Deserialize;

use super::{as_i64, MongoMessages};
use crate::error::Result;
use crate::messages::search::{Direct, Hit, SearchQuery};
use crate::messages::Conversation;
use crate::store::SearchStore;
use crate::users::UserId;

/// The fields of a `messages` document a hit needs.
#[derive(Debug, Deserialize)]
struct Found {
    #[serde(rename = "_id")]
    id: i64,
    conv: String,
    sender: i64,
    content: String,
    sent_at: i64,
    #[serde(default)]
    edited_at: Option<i64>,
}

impl Found {
    fn into_hit(self) -> Result<Hit> {
        let conversation = Conversation::from_key(&self.conv).ok_or_else(|| {
            anyhow::anyhow!(
                "message {} has a malformed conversation key {:?}",
                self.id,
                self.conv
            )
        })?;
        Ok(Hit {
            id: self.id,
            conversation,
            sender: self.sender,
            content: self.content,
            sent_at: self.sent_at,
            edited_at: self.edited_at,
        })
    }
}

impl MongoMessages {
    /// Up to `limit` documents matching `filter` with an id below `before`, newest first.
    async fn found(
        &self,
        filter: &Document,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Found>> {
        let mut filter = filter.clone();
        if let Some(before) = before {
            filter = doc! { "$and": [filter, { "_id": { "$lt": before } }] };
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .build();
        let found = self
            .messages
            .clone_with_type::<Found>()
            .find(filter)
            .with_options(options)
            .await
            .map_err(anyhow::Error::from)?
            .try_collect()
            .await
            .map_err(anyhow::Error::from)?;
        Ok(found)
    }

    /// Which of `ids` `viewer` deleted for themselves (see `changes.rs`).
    async fn hidden_among(&self, viewer: UserId, ids: &[i64]) -> Result<Vec<i64>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| format!("{viewer}/{id}")).collect();
        let found: Vec<Document> = self
            .database
            .collection::<Document>("message_hidden")
            .find(doc! { "_id": { "$in": keys } })
            .await
            .map_err(anyhow::Error::from)?
            .try_collect()
            .await
            .map_err(anyhow::Error::from)?;
        Ok(found
            .iter()
            .filter_map(|d| as_i64(d.get("message")))
            .collect())
    }
}

#[async_trait]
impl SearchStore for MongoMessages {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>> {
        if query.scope.is_empty() || query.terms.is_empty() || query.limit == 0 {
            return Ok(Vec::new());
        }
        let filter = filter(query);
        let wanted = query.limit as usize;
        let mut hits: Vec<Hit> = Vec::with_capacity(wanted);
        let mut before = query.before_id;
        loop {
            let asked = (wanted - hits.len()) as u32;
            let batch = self.found(&filter, before, asked).await?;
            let ids: Vec<i64> = batch.iter().map(|f| f.id).collect();
            let hidden = self.hidden_among(query.viewer, &ids).await?;
            let complete = batch.len() < asked as usize;
            before = ids.last().copied().or(before);
            for found in batch {
                if !hidden.contains(&found.id) {
                    hits.push(found.into_hit()?);
                }
            }
            if complete || hits.len() >= wanted {
                return Ok(hits);
            }
        }
    }
}

/// Everything a hit must satisfy except the cursor.
fn filter(query: &SearchQuery) -> Document {
    let mut all: Vec<Bson> = vec![scope(query).into()];
    for term in &query.terms {
        all.push(doc! { "content": { "$regex": regex_escape(term), "$options": "i" } }.into());
    }
    if let Some(sender) = query.sender {
        all.push(doc! { "sender": sender }.into());
    }
    if let Some(since) = query.since_ms {
        all.push(doc! { "sent_at": { "$gte": since } }.into());
    }
    if let Some(until) = query.until_ms {
        all.push(doc! { "sent_at": { "$lt": until } }.into());
    }
    doc! { "$and": all }
}

/// Where the viewer may look, as in SQL (`sql/search.rs`).
fn scope(query: &SearchQuery) -> Document {
    let viewer = query.viewer;
    let mut any: Vec<Bson> = Vec::new();
    match query.scope.direct {
        Direct::None => {}
        Direct::All => {
            // Only private messages have a recipient, and the viewer is one of the two.
            any.push(doc! { "recipient": viewer }.into());
            any.push(doc! { "sender": viewer, "recipient": { "$ne": Bson::Null } }.into());
        }
        Direct::With(peer) => {
            any.push(doc! { "conv": Conversation::direct(viewer, peer).key() }.into());
        }
    }
    let whole: Vec<String> = query
        .scope
        .groups
        .iter()
        .filter(|(_, floor)| *floor <= 0)
        .map(|(group, _)| Conversation::Group(*group).key())
        .collect();
    if !whole.is_empty() {
        any.push(doc! { "conv": { "$in": whole } }.into());
    }
    for (group, floor) in query.scope.groups.iter().filter(|(_, f)| *f > 0) {
        any.push(
            doc! { "conv": Conversation::Group(*group).key(), "_id": { "$gt": *floor } }.into(),
        );
    }
    doc! { "$or": any }
}

/// `term` as a regular expression matching itself: ASCII punctuation escaped, which both
/// PCRE (MongoDB) and Python's `re` (SecantusDB) read as the character itself.
fn regex_escape(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() * 2);
    for c in term.chars() {
        if c.is_ascii_punctuation() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::search::Scope;

    #[test]
    fn terms_are_matched_literally() {
        assert_eq!(regex_escape("a.b*(c)"), r"a\.b\*\(c\)");
        assert_eq!(regex_escape("中文 x"), "中文 x");
    }

    #[test]
    fn the_scope_names_each_conversation_and_floor() {
        let query = SearchQuery {
            viewer: 5,
            terms: vec!["hi".to_owned()],
            scope: Scope {
                direct: Direct::With(9),
                groups: vec![(1, 0), (2, 40)],
            },
            sender: None,
            since_ms: None,
            until_ms: None,
            before_id: None,
            limit: 10,
        };
        assert_eq!(
            scope(&query),
            doc! { "$or": [
                { "conv": "d:5:9" },
                { "conv": { "$in": ["g:1"] } },
                { "conv": "g:2", "_id": { "$gt": 40_i64 } },
            ] }
        );
    }
}
