//! Conversation lists and group mentions on MongoDB (see [`crate::store::conversations`]).
//!
//! The newest message of a conversation is one seek at the end of its range of the
//! `conv_id` index; unread counts walk that index from the reader's cursor. Mentions are
//! documents of `mentions`, keyed by member, group and message so that recording the same
//! mention twice finds the first.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use mongodb::bson::doc;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

use super::{is_duplicate_key, MongoMessages, ReadCursor};
use crate::error::{Error, Result};
use crate::groups::GroupId;
use crate::messages::Conversation;
use crate::store::conversations::{ConversationStore, LastMessage, Readable, Summary};
use crate::users::UserId;

/// Conversations whose newest message is looked up at once.
const IN_FLIGHT: usize = 8;

/// A message's id alone.
#[derive(Debug, Deserialize)]
struct IdOnly {
    #[serde(rename = "_id")]
    id: i64,
}

/// What a list shows of a message.
#[derive(Debug, Deserialize)]
struct Shown {
    #[serde(rename = "_id")]
    id: i64,
    sender: i64,
    content: String,
    sent_at: i64,
}

/// One member mentioned in one group message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Mention {
    /// `<user>/<group>/<message>`: one document per mention.
    #[serde(rename = "_id")]
    id: String,
    user: i64,
    group: i64,
    message: i64,
}

fn internal(err: mongodb::error::Error, what: &'static str) -> Error {
    Error::Internal(anyhow::Error::new(err).context(what))
}

impl MongoMessages {
    fn mentions(&self) -> Collection<Mention> {
        self.database.collection("mentions")
    }

    /// The index the mention counts walk: a member's mentions in a group, by message.
    pub(super) async fn create_mention_index(&self) -> anyhow::Result<()> {
        let index = IndexModel::builder()
            .keys(doc! { "user": 1, "group": 1, "message": 1 })
            .options(
                IndexOptions::builder()
                    .name("user_group_message".to_owned())
                    .build(),
            )
            .build();
        self.mentions()
            .create_index(index)
            .await
            .context("creating the index of `mentions`")?;
        Ok(())
    }

    async fn newest_of(&self, readable: Readable) -> Result<i64> {
        let found = self
            .messages
            .clone_with_type::<IdOnly>()
            .find_one(doc! {
                "conv": readable.conversation.key(),
                "_id": { "$gt": readable.floor },
            })
            .sort(doc! { "_id": -1 })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|err| internal(err, "finding the newest message"))?;
        Ok(found.map_or(0, |m| m.id))
    }

    /// Messages of `conv` from others than `reader` with ids in `(above, up_to]`, counted
    /// up to `cap`.
    async fn count_unread(
        &self,
        conv: &str,
        reader: UserId,
        (above, up_to): (i64, i64),
        cap: u32,
    ) -> Result<u32> {
        let ids: Vec<IdOnly> = self
            .messages
            .clone_with_type::<IdOnly>()
            .find(doc! {
                "conv": conv,
                "_id": { "$gt": above, "$lte": up_to },
                "sender": { "$ne": reader },
            })
            .projection(doc! { "_id": 1 })
            .limit(i64::from(cap))
            .await
            .map_err(|err| internal(err, "counting unread messages"))?
            .try_collect()
            .await
            .map_err(|err| internal(err, "counting unread messages"))?;
        Ok(u32::try_from(ids.len()).unwrap_or(cap))
    }

    /// `reader`'s mentions in `group` of stored messages with ids in `(above, up_to]`,
    /// counted up to `cap`.
    async fn count_mentions(
        &self,
        group: GroupId,
        reader: UserId,
        (above, up_to): (i64, i64),
        cap: u32,
    ) -> Result<u32> {
        let mentions: Vec<Mention> = self
            .mentions()
            .find(doc! {
                "user": reader,
                "group": group,
                "message": { "$gt": above, "$lte": up_to },
            })
            .limit(i64::from(cap))
            .await
            .map_err(|err| internal(err, "counting mentions"))?
            .try_collect()
            .await
            .map_err(|err| internal(err, "counting mentions"))?;
        if mentions.is_empty() {
            return Ok(0);
        }
        // Only mentions in messages still stored count (a recalled message takes its
        // mentions with it).
        let ids: Vec<i64> = mentions.iter().map(|m| m.message).collect();
        let stored: Vec<IdOnly> = self
            .messages
            .clone_with_type::<IdOnly>()
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(|err| internal(err, "counting mentions"))?
            .try_collect()
            .await
            .map_err(|err| internal(err, "counting mentions"))?;
        Ok(u32::try_from(stored.len()).unwrap_or(cap))
    }
}

#[async_trait]
impl ConversationStore for MongoMessages {
    async fn newest(&self, conversations: &[Readable]) -> Result<Vec<i64>> {
        // Owned items: a closure over borrowed ones makes the future lose `Send`.
        futures::stream::iter(conversations.to_vec())
            .map(|readable| self.newest_of(readable))
            .buffered(IN_FLIGHT)
            .try_collect()
            .await
    }

    async fn summaries(
        &self,
        reader: UserId,
        conversations: &[(Readable, i64)],
        cap: u32,
    ) -> Result<Vec<Summary>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = conversations
            .iter()
            .map(|(_, newest)| *newest)
            .filter(|id| *id > 0)
            .collect();
        let shown: Vec<Shown> = self
            .messages
            .clone_with_type::<Shown>()
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "_id": 1, "sender": 1, "content": 1, "sent_at": 1 })
            .await
            .map_err(|err| internal(err, "reading last messages"))?
            .try_collect()
            .await
            .map_err(|err| internal(err, "reading last messages"))?;
        let last: HashMap<i64, LastMessage> = shown
            .into_iter()
            .map(|m| {
                let message = LastMessage {
                    id: m.id,
                    sender: m.sender,
                    content: m.content,
                    sent_at: m.sent_at,
                };
                (m.id, message)
            })
            .collect();
        let keys: Vec<String> = conversations
            .iter()
            .map(|(readable, _)| readable.conversation.key())
            .collect();
        let cursor_ids: Vec<String> = keys
            .iter()
            .map(|key| ReadCursor::id_of(key, reader))
            .collect();
        let cursors: Vec<ReadCursor> = self
            .read_cursors
            .find(doc! { "_id": { "$in": cursor_ids } })
            .await
            .map_err(|err| internal(err, "reading read cursors"))?
            .try_collect()
            .await
            .map_err(|err| internal(err, "reading read cursors"))?;
        let cursors: HashMap<String, i64> = cursors
            .into_iter()
            .map(|cursor| (cursor.conv, cursor.read_up_to))
            .collect();
        let mut summaries = Vec::with_capacity(conversations.len());
        for ((readable, newest), key) in conversations.iter().zip(&keys) {
            let above = cursors.get(key).copied().unwrap_or(0).max(readable.floor);
            // Counted up to the newest message shown, as in SQL.
            let (unread, mentions) = if *newest <= above {
                (0, 0)
            } else {
                let range = (above, *newest);
                let unread = self.count_unread(key, reader, range, cap).await?;
                let mentions = match readable.conversation {
                    Conversation::Group(group) => {
                        self.count_mentions(group, reader, range, cap).await?
                    }
                    Conversation::Direct(..) => 0,
                };
                (unread, mentions)
            };
            summaries.push(Summary {
                last: last.get(newest).cloned(),
                unread,
                mentions,
            });
        }
        Ok(summaries)
    }

    async fn add_mentions(
        &self,
        group: GroupId,
        message: i64,
        users: &[UserId],
    ) -> Result<Vec<UserId>> {
        let mut fresh = Vec::with_capacity(users.len());
        for &user in users {
            let mention = Mention {
                id: format!("{user}/{group}/{message}"),
                user,
                group,
                message,
            };
            match self.mentions().insert_one(&mention).await {
                Ok(_) => fresh.push(user),
                Err(err) if is_duplicate_key(&err) => {}
                Err(err) => return Err(internal(err, "storing a mention")),
            }
        }
        Ok(fresh)
    }
}
