//! The chat service's changes to messages and its conversation signals (see the parent
//! module).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::{check_emoji, Audience, Change, Scope, Tally, MAX_REACTIONS_PER_USER};
use crate::bus::{Event, SocketRef};
use crate::error::{Error, Result};
use crate::groups::Role;
use crate::messages::filter::DraftKind;
use crate::messages::service::SendError;
use crate::messages::{ChatService, Conversation, Message};
use crate::store::changes::Reaction;
use crate::users::{now_millis, UserId};

impl ChatService {
    /// The message `id` if `user` may see it through `scope`; [`Error::NotFound`]
    /// otherwise, so that nobody learns of messages they may not see.
    pub async fn visible(&self, user: UserId, scope: Scope, id: i64) -> Result<Message> {
        const MISSING: Error = Error::NotFound("no such message in this conversation");
        self.store.settle().await?;
        let message = self.changes()?.message(id).await?.ok_or(MISSING)?;
        let allowed = match (scope, message.conversation) {
            (Scope::Conversation(conversation), actual) => conversation == actual,
            (Scope::AnyDirect, Conversation::Direct(a, b)) => a == user || b == user,
            (Scope::AnyDirect, Conversation::Group(_)) => false,
        };
        if !allowed {
            return Err(MISSING);
        }
        if let Conversation::Group(group) = message.conversation {
            if message.id <= self.groups.history_floor(group, user).await? {
                return Err(MISSING);
            }
        }
        Ok(message)
    }

    /// Refuses what `user` would show the other user of a private conversation while one
    /// of them blocks the other (an edit, a reaction, typing), as a new message would be.
    async fn check_unblocked(&self, user: UserId, conversation: Conversation) -> Result<()> {
        if let (Conversation::Direct(a, b), Some(blocks)) = (conversation, &self.blocks) {
            let other = if a == user { b } else { a };
            blocks.check_pair(user, other).await?;
        }
        Ok(())
    }

    /// Replaces the text of `user`'s message `id`; the new text passes the filters as an
    /// edit. Returns the message as stored.
    pub async fn edit(
        &self,
        user: UserId,
        scope: Scope,
        id: i64,
        content: &str,
        origin: Option<SocketRef>,
    ) -> std::result::Result<Message, SendError> {
        self.check_length(content)?;
        let mut message = self.visible(user, scope, id).await?;
        if message.sender != user {
            return Err(Error::NotYourMessage("you can edit only your own messages").into());
        }
        self.check_unblocked(user, message.conversation).await?;
        let at = now_millis();
        let content = self
            .filter(
                user,
                message.conversation,
                content,
                at,
                DraftKind::Edit { message_id: id },
            )
            .await?;
        if !self.changes()?.edit(id, &content, at).await? {
            return Err(Error::NotFound("no such message in this conversation").into());
        }
        message.content = content.clone();
        message.edited_at = Some(at);
        self.announce(
            message.conversation,
            Audience::Everyone,
            Change::Edited {
                id,
                by: user,
                content,
                at,
            },
            origin,
        )
        .await;
        Ok(message)
    }

    /// Removes message `id` for everyone: its sender may within the recall window, a
    /// group's owner and admins at any time.
    pub async fn recall(
        &self,
        user: UserId,
        scope: Scope,
        id: i64,
        origin: Option<SocketRef>,
    ) -> Result<()> {
        let message = self.visible(user, scope, id).await?;
        let moderator = match message.conversation {
            Conversation::Group(group) => matches!(
                self.groups.role_of(group, user).await?,
                Role::Owner | Role::Admin
            ),
            Conversation::Direct(..) => false,
        };
        if !moderator {
            if message.sender != user {
                return Err(Error::NotYourMessage(
                    "only its sender, or a group owner or admin, can recall a message",
                ));
            }
            let age = Duration::from_millis(
                u64::try_from(now_millis().saturating_sub(message.sent_at)).unwrap_or(0),
            );
            if age > self.recall_window {
                return Err(Error::RecallExpired {
                    window_secs: self.recall_window.as_secs(),
                });
            }
        }
        if !self.changes()?.recall(id).await? {
            return Err(Error::NotFound("no such message in this conversation"));
        }
        self.announce(
            message.conversation,
            Audience::Everyone,
            Change::Recalled { id, by: user },
            origin,
        )
        .await;
        Ok(())
    }

    /// Hides message `id` from `user` only ("delete for me").
    pub async fn hide(
        &self,
        user: UserId,
        scope: Scope,
        id: i64,
        origin: Option<SocketRef>,
    ) -> Result<()> {
        let message = self.visible(user, scope, id).await?;
        self.changes()?.hide(user, id).await?;
        self.announce(
            message.conversation,
            Audience::Only(user),
            Change::Hidden { id, by: user },
            origin,
        )
        .await;
        Ok(())
    }

    /// Adds (`on`), takes back, or (`None`) toggles `user`'s reaction to message `id`.
    /// Returns whether the reaction is now on.
    pub async fn react(
        &self,
        user: UserId,
        scope: Scope,
        id: i64,
        emoji: &str,
        on: Option<bool>,
        origin: Option<SocketRef>,
    ) -> Result<bool> {
        check_emoji(emoji)?;
        let message = self.visible(user, scope, id).await?;
        self.check_unblocked(user, message.conversation).await?;
        let mine: Vec<Reaction> = self
            .changes()?
            .reactions(&[id])
            .await?
            .into_iter()
            .filter(|r| r.user == user)
            .collect();
        let had = mine.iter().any(|r| r.emoji == emoji);
        let on = on.unwrap_or(!had);
        if on && !had && mine.len() >= MAX_REACTIONS_PER_USER {
            return Err(Error::invalid(format!(
                "at most {MAX_REACTIONS_PER_USER} different reactions per message"
            )));
        }
        let reaction = Reaction {
            message: id,
            user,
            emoji: emoji.to_owned(),
        };
        if self.changes()?.react(&reaction, on, now_millis()).await? {
            self.announce(
                message.conversation,
                Audience::Everyone,
                Change::Reacted {
                    id,
                    by: user,
                    emoji: reaction.emoji,
                    on,
                },
                origin,
            )
            .await;
        }
        Ok(on)
    }

    /// Marks `conversation` read by `user` up to message `up_to`, which must be one they
    /// can see there; the other side and `user`'s other devices are told.
    pub async fn read_up_to(
        &self,
        user: UserId,
        conversation: Conversation,
        up_to: i64,
        origin: Option<SocketRef>,
    ) -> Result<()> {
        self.visible(user, Scope::Conversation(conversation), up_to)
            .await?;
        if self.store.mark_read(&conversation, user, up_to).await? {
            self.announce_read(conversation, user, up_to, origin).await;
        }
        Ok(())
    }

    /// Tells a conversation's sockets that `user` has read it up to `up_to`.
    pub(crate) async fn announce_read(
        &self,
        conversation: Conversation,
        user: UserId,
        up_to: i64,
        origin: Option<SocketRef>,
    ) {
        self.announce(
            conversation,
            Audience::Everyone,
            Change::Read { by: user, up_to },
            origin,
        )
        .await;
    }

    /// Tells the sender of private message `id` that `user`'s device received it.
    pub async fn delivered(&self, user: UserId, conversation: Conversation, id: i64) -> Result<()> {
        let message = self
            .visible(user, Scope::Conversation(conversation), id)
            .await?;
        if message.recipient != Some(user) {
            return Err(Error::invalid(
                "delivery receipts are for private messages sent to you",
            ));
        }
        self.announce(
            conversation,
            Audience::Only(message.sender),
            Change::Delivered { by: user, id },
            None,
        )
        .await;
        Ok(())
    }

    /// Tells the others in a conversation that `user` is typing.
    pub async fn typing(&self, user: UserId, conversation: Conversation) -> Result<()> {
        match conversation {
            Conversation::Group(group) => {
                if !self.groups.is_member(group, user).await? {
                    return Err(Error::NoGroup("not a member of this group"));
                }
            }
            Conversation::Direct(..) => self.check_unblocked(user, conversation).await?,
        }
        self.announce(
            conversation,
            Audience::AllBut(user),
            Change::Typing { by: user },
            None,
        )
        .await;
        Ok(())
    }

    /// Drops the messages `viewer` hid and gathers the reactions of the rest.
    pub async fn decorate(
        &self,
        viewer: UserId,
        messages: Vec<Message>,
    ) -> Result<(Vec<Message>, BTreeMap<i64, Tally>)> {
        if messages.is_empty() {
            return Ok((messages, BTreeMap::new()));
        }
        let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
        let hidden: HashSet<i64> = self.changes()?.hidden(viewer, &ids).await?;
        let mut tallies: BTreeMap<i64, Tally> = BTreeMap::new();
        for reaction in self.changes()?.reactions(&ids).await? {
            tallies
                .entry(reaction.message)
                .or_default()
                .entry(reaction.emoji)
                .or_default()
                .push(reaction.user);
        }
        let shown = messages
            .into_iter()
            .filter(|m| !hidden.contains(&m.id))
            .collect();
        Ok((shown, tallies))
    }

    /// Each reader of a group and how far they have read, for "read by" (members who
    /// left are not counted).
    pub async fn readers(
        &self,
        user: UserId,
        conversation: Conversation,
        id: i64,
    ) -> Result<Vec<UserId>> {
        let message = self
            .visible(user, Scope::Conversation(conversation), id)
            .await?;
        let mut readers = Vec::new();
        for (reader, up_to) in self.changes()?.cursors(&conversation).await? {
            if up_to >= id && reader != message.sender {
                readers.push(reader);
            }
        }
        Ok(readers)
    }

    async fn announce(
        &self,
        conversation: Conversation,
        audience: Audience,
        change: Change,
        origin: Option<SocketRef>,
    ) {
        let event = Event::Change {
            conversation,
            audience,
            change,
            origin,
        };
        // The change is stored; live sockets that miss it see it in history.
        if let Err(err) = self.bus.publish(event).await {
            tracing::warn!(error = %err, "announcing a message change failed");
        }
    }
}
