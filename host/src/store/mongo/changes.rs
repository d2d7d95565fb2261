//! Edits, recalls, hidings and reactions on MongoDB: `messages` documents are changed in
//! place; `message_hidden` and `reactions` hold one document per hiding or reaction, keyed
//! so that doing the same twice finds the first.

use std::collections::HashSet;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::options::FindOptions;

use super::{as_i64, is_duplicate_key, MongoMessages};
use crate::error::Result;
use crate::messages::{Conversation, Message};
use crate::store::changes::{ChangeStore, Reaction};
use crate::users::UserId;

impl MongoMessages {
    fn hidings(&self) -> mongodb::Collection<Document> {
        self.database.collection("message_hidden")
    }

    fn reaction_docs(&self) -> mongodb::Collection<Document> {
        self.database.collection("reactions")
    }

    /// Deletes the reactions and hidings of these (deleted) messages.
    pub(super) async fn purge_attachments(&self, ids: &[i64]) -> Result<()> {
        for collection in [self.reaction_docs(), self.hidings()] {
            collection
                .delete_many(doc! { "message": { "$in": ids.to_vec() } })
                .await
                .map_err(anyhow::Error::from)?;
        }
        Ok(())
    }
}

/// Inserts `document`; false when its `_id` is there already.
async fn insert_once(
    collection: &mongodb::Collection<Document>,
    document: Document,
) -> Result<bool> {
    match collection.insert_one(document).await {
        Ok(_) => Ok(true),
        Err(err) if is_duplicate_key(&err) => Ok(false),
        Err(err) => Err(anyhow::Error::from(err).into()),
    }
}

#[async_trait]
impl ChangeStore for MongoMessages {
    async fn message(&self, id: i64) -> Result<Option<Message>> {
        let found = self
            .messages
            .find_one(doc! { "_id": id })
            .await
            .map_err(anyhow::Error::from)?;
        found.map(|m| m.into_message()).transpose()
    }

    async fn edit(&self, id: i64, content: &str, at_ms: i64) -> Result<bool> {
        let done = self
            .messages
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "content": content, "edited_at": at_ms } },
            )
            .await
            .map_err(anyhow::Error::from)?;
        Ok(done.matched_count > 0)
    }

    async fn recall(&self, id: i64) -> Result<bool> {
        let done = self
            .messages
            .delete_one(doc! { "_id": id })
            .await
            .map_err(anyhow::Error::from)?;
        for collection in [self.reaction_docs(), self.hidings()] {
            collection
                .delete_many(doc! { "message": id })
                .await
                .map_err(anyhow::Error::from)?;
        }
        Ok(done.deleted_count > 0)
    }

    async fn hide(&self, user: UserId, id: i64) -> Result<bool> {
        insert_once(
            &self.hidings(),
            doc! { "_id": format!("{user}/{id}"), "user": user, "message": id },
        )
        .await
    }

    async fn hidden(&self, user: UserId, ids: &[i64]) -> Result<HashSet<i64>> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| format!("{user}/{id}")).collect();
        let found: Vec<Document> = self
            .hidings()
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

    async fn react(&self, reaction: &Reaction, on: bool, at_ms: i64) -> Result<bool> {
        let key = format!("{}/{}/{}", reaction.message, reaction.user, reaction.emoji);
        if !on {
            let done = self
                .reaction_docs()
                .delete_one(doc! { "_id": key })
                .await
                .map_err(anyhow::Error::from)?;
            return Ok(done.deleted_count > 0);
        }
        insert_once(
            &self.reaction_docs(),
            doc! {
                "_id": key,
                "message": reaction.message,
                "user": reaction.user,
                "emoji": &reaction.emoji,
                "at": at_ms,
            },
        )
        .await
    }

    async fn reactions(&self, ids: &[i64]) -> Result<Vec<Reaction>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let options = FindOptions::builder()
            .sort(doc! { "at": 1, "user": 1, "emoji": 1 })
            .build();
        let found: Vec<Document> = self
            .reaction_docs()
            .find(doc! { "message": { "$in": ids.to_vec() } })
            .with_options(options)
            .await
            .map_err(anyhow::Error::from)?
            .try_collect()
            .await
            .map_err(anyhow::Error::from)?;
        Ok(found
            .iter()
            .filter_map(|d| {
                Some(Reaction {
                    message: as_i64(d.get("message"))?,
                    user: as_i64(d.get("user"))?,
                    emoji: d.get_str("emoji").ok()?.to_owned(),
                })
            })
            .collect())
    }

    async fn cursors(&self, conversation: &Conversation) -> Result<Vec<(UserId, i64)>> {
        let found: Vec<super::ReadCursor> = self
            .read_cursors
            .find(doc! { "conv": conversation.key() })
            .await
            .map_err(anyhow::Error::from)?
            .try_collect()
            .await
            .map_err(anyhow::Error::from)?;
        let mut cursors: Vec<(UserId, i64)> = found
            .into_iter()
            .map(|c| (c.reader, c.read_up_to))
            .collect();
        cursors.sort_unstable();
        Ok(cursors)
    }
}
