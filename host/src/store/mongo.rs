//! The MongoDB backend of message history: one `messages` collection and a shared id counter.
//!
//! Several nodes may write to the same database, so server ids come from one atomic
//! counter document (`counters`, `_id: "messages"`) rather than from anything local. A
//! message is a document keyed by that id; its conversation is stored as
//! [`Conversation::key`] and parsed back when read. De-duplication by the sender's client
//! id rests on a unique partial index, so two nodes racing with the same message still
//! store it once. Old messages expire through a TTL index on `expire_at`, and
//! [`MessageStore::purge_before`] remains for callers that purge by time themselves.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::{ErrorKind, WriteError, WriteFailure};
use mongodb::options::{ClientOptions, FindOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::messages::{Appended, Conversation, Message, NewMessage};
use crate::store::MessageStore;
use crate::users::UserId;

/// The server's code for a unique-index violation.
const DUPLICATE_KEY: i32 = 11000;

/// How many times allocating an id is tried when the counter's upsert comes back without
/// a value (two first-ever upserts colliding).
const COUNTER_ATTEMPTS: usize = 3;

const MS_PER_DAY: i64 = 86_400_000;

/// Message history in a MongoDB database.
#[derive(Debug, Clone)]
pub struct MongoMessages {
    database: Database,
    messages: Collection<StoredMessage>,
    counters: Collection<Document>,
    retention_days: u32,
}

/// A message as stored: the field names are the collection's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredMessage {
    #[serde(rename = "_id")]
    id: i64,
    conv: String,
    sender: i64,
    recipient: Option<i64>,
    content: String,
    // Absent rather than null when the client gave none: the unique index is partial on
    // `$exists`, and null would make every id-less message of a sender collide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    sent_at: i64,
    read: bool,
    // Absent when retention is off, so the TTL index leaves the message alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expire_at: Option<DateTime>,
}

impl StoredMessage {
    fn new(id: i64, message: NewMessage, retention_days: u32) -> Self {
        let expire_at = (retention_days > 0).then(|| {
            let keep = i64::from(retention_days).saturating_mul(MS_PER_DAY);
            DateTime::from_millis(message.sent_at.saturating_add(keep))
        });
        Self {
            id,
            conv: message.conversation.key(),
            sender: message.sender,
            recipient: message.recipient,
            content: message.content,
            client_id: message.client_id,
            sent_at: message.sent_at,
            read: message.read,
            expire_at,
        }
    }

    fn into_message(self) -> Result<Message> {
        let conversation = Conversation::from_key(&self.conv).with_context(|| {
            format!(
                "message {} has a malformed conversation key {:?}",
                self.id, self.conv
            )
        })?;
        Ok(Message {
            id: self.id,
            conversation,
            sender: self.sender,
            recipient: self.recipient,
            content: self.content,
            client_id: self.client_id,
            sent_at: self.sent_at,
            read: self.read,
        })
    }
}

/// Whether the server refused a write because a unique index already holds the key.
fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(WriteError { code, .. })) => {
            *code == DUPLICATE_KEY
        }
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(failure) => failure
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        _ => false,
    }
}

/// A counter value as an `i64`, whichever integer width the server chose to store.
fn as_i64(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int64(v) => Some(*v),
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Double(v) if v.fract() == 0.0 => Some(*v as i64),
        _ => None,
    }
}

impl MongoMessages {
    /// Connects to `url`, uses `database`, and creates the indexes (idempotent). With
    /// `retention_days` above zero, each message carries an `expire_at` that many days after
    /// it was sent and the server deletes it then; zero keeps messages until purged.
    pub async fn connect(url: &str, database: &str, retention_days: u32) -> anyhow::Result<Self> {
        let mut options = ClientOptions::parse(url)
            .await
            .context("parsing the MongoDB URL")?;
        options.app_name.get_or_insert_with(|| "confab".to_owned());
        // Fail start-up in seconds rather than the driver's 30 when the server is down.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(10));
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let client = Client::with_options(options).context("configuring the MongoDB client")?;
        let database = client.database(database);
        let store = Self {
            messages: database.collection("messages"),
            counters: database.collection("counters"),
            database,
            retention_days,
        };
        let prepare = async {
            store.create_indexes().await?;
            store.seed_counter().await
        };
        prepare
            .await
            .with_context(|| format!("preparing message history on MongoDB at {hosts}"))?;
        Ok(store)
    }

    /// The database in use, for operator tools and tests that inspect the indexes.
    pub fn database(&self) -> &Database {
        &self.database
    }

    async fn create_indexes(&self) -> anyhow::Result<()> {
        let index = |name: &str, keys: Document, mut options: IndexOptions| {
            options.name = Some(name.to_owned());
            IndexModel::builder().keys(keys).options(options).build()
        };
        let indexes = vec![
            // History pages: `after` and `before` walk one conversation in id order.
            index(
                "conv_id",
                doc! { "conv": 1, "_id": 1 },
                IndexOptions::default(),
            ),
            // The oldest unread message of a reader in a conversation.
            index(
                "conv_unread",
                doc! { "conv": 1, "recipient": 1, "read": 1, "_id": 1 },
                IndexOptions::default(),
            ),
            // De-duplication: one message per (sender, client id), enforced by the server
            // so that nodes racing with the same retry still store it once.
            index(
                "sender_client_id",
                doc! { "sender": 1, "client_id": 1 },
                IndexOptions::builder()
                    .unique(true)
                    .partial_filter_expression(doc! { "client_id": { "$exists": true } })
                    .build(),
            ),
            // Retention: the server deletes a message once `expire_at` has passed.
            index(
                "expire_at",
                doc! { "expire_at": 1 },
                IndexOptions::builder()
                    .expire_after(Duration::from_secs(0))
                    .build(),
            ),
        ];
        self.messages
            .create_indexes(indexes)
            .await
            .context("creating the indexes of `messages`")?;
        Ok(())
    }

    /// Creates the id counter at zero unless it exists. Creating it here, once, rather than
    /// by the first append's upsert keeps concurrent first appends off the path where the
    /// counter (and its collection) is created: SecantusDB answers some of those racing
    /// upserts with no document even though it applied their increment.
    async fn seed_counter(&self) -> anyhow::Result<()> {
        let seeded = self
            .counters
            .update_one(
                doc! { "_id": "messages" },
                doc! { "$setOnInsert": { "seq": 0_i64 } },
            )
            .upsert(true)
            .await;
        match seeded {
            // Another node seeded it at the same moment: the counter exists, which is all
            // that was needed.
            Err(err) if !is_duplicate_key(&err) => {
                Err(anyhow::Error::new(err).context("creating the message id counter"))
            }
            _ => Ok(()),
        }
    }

    /// The next server id. The counter is one document updated atomically, so ids are
    /// unique and increasing across every node sharing the database.
    async fn next_id(&self) -> Result<i64> {
        self.reserve_ids(1).await
    }

    /// Reserves `count` consecutive ids with one update and returns the last of them.
    async fn reserve_ids(&self, count: i64) -> Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let counter = self
                .counters
                .find_one_and_update(
                    doc! { "_id": "messages" },
                    doc! { "$inc": { "seq": count } },
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match counter {
                Ok(Some(counter)) => {
                    return as_i64(counter.get("seq"))
                        .context("the message counter holds no integer `seq`")
                        .map_err(Error::Internal);
                }
                // MongoDB always returns the document of an upsert asked for `After`; a
                // server that does not (see `seed_counter`) may still have counted, so
                // retrying can skip an id but never repeats one.
                Ok(None) if attempt < COUNTER_ATTEMPTS => continue,
                Ok(None) => {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "the message counter upsert returned no document"
                    )))
                }
                // Two nodes creating the counter at once: one insert wins, the other
                // sees a duplicate `_id` and only has to increment the winner's document.
                Err(err) if is_duplicate_key(&err) && attempt < COUNTER_ATTEMPTS => continue,
                Err(err) => {
                    return Err(Error::Internal(
                        anyhow::Error::new(err).context("allocating a message id"),
                    ))
                }
            }
        }
    }

    async fn by_client_id(&self, sender: UserId, client_id: &str) -> Result<Option<Message>> {
        let found = self
            .messages
            .find_one(doc! { "sender": sender, "client_id": client_id })
            .await
            .context("looking up a message by client id")?;
        found.map(StoredMessage::into_message).transpose()
    }

    async fn list(&self, filter: Document, options: FindOptions) -> Result<Vec<Message>> {
        let stored: Vec<StoredMessage> = self
            .messages
            .find(filter)
            .with_options(options)
            .await
            .context("reading messages")?
            .try_collect()
            .await
            .context("reading messages")?;
        stored
            .into_iter()
            .map(StoredMessage::into_message)
            .collect()
    }
}

#[async_trait]
impl MessageStore for MongoMessages {
    async fn append(&self, message: NewMessage) -> Result<Appended> {
        let sender = message.sender;
        let client_id = message.client_id.clone();
        // A retry is the common duplicate; finding it first saves allocating an id for it.
        if let Some(client_id) = &client_id {
            if let Some(existing) = self.by_client_id(sender, client_id).await? {
                return Ok(Appended {
                    message: existing,
                    duplicate: true,
                });
            }
        }
        let id = self.next_id().await?;
        let stored = StoredMessage::new(id, message, self.retention_days);
        match self.messages.insert_one(&stored).await {
            Ok(_) => Ok(Appended {
                message: stored.into_message()?,
                duplicate: false,
            }),
            Err(err) if is_duplicate_key(&err) => {
                // Another node stored the same (sender, client id) between our check and
                // our insert; the id allocated here is simply left unused.
                let existing = match &client_id {
                    Some(client_id) => self.by_client_id(sender, client_id).await?,
                    None => None,
                };
                match existing {
                    Some(existing) => Ok(Appended {
                        message: existing,
                        duplicate: true,
                    }),
                    None => Err(Error::Internal(
                        anyhow::Error::new(err).context(format!("storing message {id}")),
                    )),
                }
            }
            Err(err) => Err(Error::Internal(
                anyhow::Error::new(err).context(format!("storing message {id}")),
            )),
        }
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>> {
        if batch.len() <= 1 {
            let mut appended = Vec::with_capacity(1);
            for message in batch {
                appended.push(self.append(message).await?);
            }
            return Ok(appended);
        }
        // One look-up of every client id in the batch.
        let keyed: Vec<Document> = batch
            .iter()
            .filter_map(|m| {
                m.client_id
                    .as_ref()
                    .map(|c| doc! { "sender": m.sender, "client_id": c })
            })
            .collect();
        let mut stored: std::collections::HashMap<(UserId, String), Message> =
            std::collections::HashMap::new();
        if !keyed.is_empty() {
            let found: Vec<StoredMessage> = self
                .messages
                .find(doc! { "$or": keyed })
                .await
                .context("looking up client ids")?
                .try_collect()
                .await
                .context("looking up client ids")?;
            for old in found {
                let message = old.into_message()?;
                if let Some(client_id) = message.client_id.clone() {
                    stored.insert((message.sender, client_id), message);
                }
            }
        }
        // Where each message goes: already stored, a repeat within the batch, or new.
        let mut first_in_batch: std::collections::HashMap<(UserId, String), usize> =
            std::collections::HashMap::new();
        let mut fresh = 0_i64;
        let mut plan: Vec<std::result::Result<usize, Option<usize>>> = Vec::new();
        for (index, message) in batch.iter().enumerate() {
            let key = message.client_id.clone().map(|c| (message.sender, c));
            match key {
                Some(key) if stored.contains_key(&key) => plan.push(Err(None)),
                Some(key) if first_in_batch.contains_key(&key) => {
                    plan.push(Err(first_in_batch.get(&key).copied()))
                }
                Some(key) => {
                    first_in_batch.insert(key, index);
                    plan.push(Ok(index));
                    fresh += 1;
                }
                None => {
                    plan.push(Ok(index));
                    fresh += 1;
                }
            }
        }
        let last = if fresh > 0 {
            self.reserve_ids(fresh).await?
        } else {
            0
        };
        let mut next = last - fresh + 1;
        let retry = batch.clone();
        let mut documents = Vec::with_capacity(batch.len());
        let mut results: Vec<Option<Appended>> = vec![None; batch.len()];
        for (index, message) in batch.into_iter().enumerate() {
            match plan[index] {
                Ok(_) => {
                    let document = StoredMessage::new(next, message, self.retention_days);
                    next += 1;
                    results[index] = Some(Appended {
                        message: document.clone().into_message()?,
                        duplicate: false,
                    });
                    documents.push(document);
                }
                Err(None) => {
                    let key = (
                        message.sender,
                        message.client_id.clone().unwrap_or_default(),
                    );
                    let old = stored.get(&key).cloned().ok_or_else(|| {
                        anyhow::anyhow!("a stored duplicate vanished from the batch")
                    })?;
                    results[index] = Some(Appended {
                        message: old,
                        duplicate: true,
                    });
                }
                Err(Some(earlier)) => {
                    let first = results[earlier]
                        .as_ref()
                        .map(|a| a.message.clone())
                        .ok_or_else(|| anyhow::anyhow!("a batch repeat came before its first"))?;
                    results[index] = Some(Appended {
                        message: first,
                        duplicate: true,
                    });
                }
            }
        }
        if !documents.is_empty() {
            match self.messages.insert_many(&documents).ordered(true).await {
                Ok(_) => {}
                Err(err) if is_duplicate_key(&err) => {
                    // Another node stored one of these client ids meanwhile. The ordered
                    // insert stopped at it; what went in before it is found as duplicates.
                    let mut appended = Vec::with_capacity(retry.len());
                    for message in retry {
                        appended.push(self.append(message).await?);
                    }
                    return Ok(appended);
                }
                Err(err) => {
                    return Err(Error::Internal(
                        anyhow::Error::new(err).context("storing a batch of messages"),
                    ))
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| anyhow::anyhow!("a message of the batch has no result").into())
            })
            .collect()
    }

    async fn after(
        &self,
        conversation: &Conversation,
        after_ms: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        // MongoDB reads a limit of 0 as "no limit"; SQL's LIMIT 0 returns nothing.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .build();
        self.list(
            doc! {
                "conv": conversation.key(),
                "sent_at": { "$gt": after_ms },
                "_id": { "$gt": above_id },
            },
            options,
        )
        .await
    }

    async fn before(
        &self,
        conversation: &Conversation,
        before_id: i64,
        above_id: i64,
        limit: u32,
    ) -> Result<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The newest `limit` below the id, read newest first and turned around.
        let options = FindOptions::builder()
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit))
            .build();
        let mut page = self
            .list(
                doc! {
                    "conv": conversation.key(),
                    "_id": { "$lt": before_id, "$gt": above_id },
                },
                options,
            )
            .await?;
        page.reverse();
        Ok(page)
    }

    async fn unread(
        &self,
        conversation: &Conversation,
        reader: UserId,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let key = conversation.key();
        let oldest = self
            .messages
            .find_one(doc! { "conv": &key, "recipient": reader, "read": false })
            .sort(doc! { "_id": 1 })
            .await
            .context("finding the oldest unread message")?;
        let Some(oldest) = oldest else {
            return Ok(Vec::new());
        };
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .build();
        self.list(doc! { "conv": key, "_id": { "$gte": oldest.id } }, options)
            .await
    }

    async fn mark_read(
        &self,
        conversation: &Conversation,
        reader: UserId,
        up_to: i64,
    ) -> Result<u64> {
        let result = self
            .messages
            .update_many(
                doc! {
                    "conv": conversation.key(),
                    "recipient": reader,
                    "read": false,
                    "_id": { "$lte": up_to },
                },
                doc! { "$set": { "read": true } },
            )
            .await
            .context("marking messages read")?;
        Ok(result.modified_count)
    }

    async fn purge_before(&self, cutoff_ms: i64) -> Result<u64> {
        let result = self
            .messages
            .delete_many(doc! { "sent_at": { "$lt": cutoff_ms } })
            .await
            .context("purging old messages")?;
        Ok(result.deleted_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(sent_at: i64, client_id: Option<&str>) -> NewMessage {
        NewMessage {
            conversation: Conversation::direct(9, 4),
            sender: 9,
            recipient: Some(4),
            content: "hi".to_owned(),
            client_id: client_id.map(str::to_owned),
            sent_at,
            read: false,
        }
    }

    #[test]
    fn conversation_keys_round_trip() {
        for conversation in [
            Conversation::direct(7, 3),
            Conversation::Direct(-1, 12),
            Conversation::Group(42),
        ] {
            assert_eq!(
                Conversation::from_key(&conversation.key()),
                Some(conversation)
            );
        }
        for bad in ["", "d:1", "d:1:x", "g:", "x:1", "g:1:2"] {
            assert_eq!(Conversation::from_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expiry_follows_the_retention() {
        let kept = StoredMessage::new(1, draft(1_000, None), 0);
        assert_eq!(kept.expire_at, None);
        let expiring = StoredMessage::new(1, draft(1_000, None), 2);
        assert_eq!(
            expiring.expire_at,
            Some(DateTime::from_millis(1_000 + 2 * MS_PER_DAY))
        );
    }

    #[test]
    fn missing_client_ids_are_left_out_of_the_document() {
        let without = mongodb::bson::to_document(&StoredMessage::new(5, draft(1, None), 0))
            .expect("a message serializes");
        assert!(!without.contains_key("client_id"));
        assert!(!without.contains_key("expire_at"));
        assert_eq!(without.get("recipient"), Some(&Bson::Int64(4)));
        let with = mongodb::bson::to_document(&StoredMessage::new(5, draft(1, Some("c")), 1))
            .expect("a message serializes");
        assert_eq!(with.get_str("client_id"), Ok("c"));
        assert!(matches!(with.get("expire_at"), Some(Bson::DateTime(_))));
        let back: StoredMessage =
            mongodb::bson::from_document(with).expect("a stored message deserializes");
        assert_eq!(
            back.into_message().expect("its key parses").conversation,
            Conversation::direct(4, 9)
        );
    }
}
