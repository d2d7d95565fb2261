//! What a session does with one client frame: check it, then start its answer. A send is
//! filtered and handed to the writer here, in the order frames arrive; its answer (the ack,
//! or the reason it was refused) resolves once the message is stored.

use axum::extract::ws::Utf8Bytes;

use super::{ready, Answer, Bucket, Outcome, Reply, Session};
use crate::bus::SocketRef;
use crate::error::{Code, Error};
use crate::messages::service::{Pending, SendError, Sent, HISTORY_PAGE};
use crate::messages::{Conversation, Message};
use crate::metrics::Refusal;
use crate::users::UserId;
use crate::ws::hub::{Hub, SocketKind};
use crate::ws::protocol::{ClientFrame, Page, ServerFrame};

impl Session {
    /// Reads one text frame and returns its answer.
    pub(super) async fn handle(&self, body: &str, bucket: &mut Bucket, me: SocketRef) -> Answer {
        let group = matches!(self.kind, SocketKind::Group(_));
        let frame = match ClientFrame::parse(body, self.context.limits.max_frame_bytes, group) {
            Ok(frame) => frame,
            Err(bad) => return ready(Reply::invalid(&bad.reason)),
        };
        match frame {
            ClientFrame::Send {
                to,
                content,
                client_id,
                reply_to,
                mentions,
            } => {
                if !group && !mentions.is_empty() {
                    return ready(Reply::invalid("mentions are only for group messages"));
                }
                self.send(to, &content, client_id, reply_to, mentions, bucket, me)
                    .await
            }
            ClientFrame::Change {
                to,
                request,
                client_id,
            } => self.change(to, request, client_id, bucket, me),
            ClientFrame::History { to, page } => match self.conversation(to) {
                Ok(conversation) => self.history(conversation, page),
                Err(reason) => ready(Reply::invalid(reason)),
            },
            ClientFrame::Unread { to } => match self.conversation(to) {
                Ok(conversation) => self.unread(conversation, me),
                Err(reason) => ready(Reply::invalid(reason)),
            },
            ClientFrame::Renew { token } => self.renew(token),
        }
    }

    /// Checks a fresh token for this socket's user; the loop moves the socket's expiry.
    fn renew(&self, token: String) -> Answer {
        let renewal = self.context.renewal.clone();
        let user = self.user;
        Box::pin(async move {
            match renewal.renew(&token).await {
                Ok((owner, expires)) if owner == user => Reply {
                    frames: vec![ServerFrame::Renewed { expires }.encode()],
                    outcome: Outcome::Renewed(expires),
                },
                Ok(_) => Reply::valid(vec![refusal(
                    &Error::InvalidToken("the token belongs to another user"),
                    None,
                )]),
                Err(err) => Reply::valid(vec![refusal(&err, None)]),
            }
        })
    }

    /// The peer of a private frame: the socket's own, or `to` on an inbox.
    fn peer(&self, to: Option<UserId>) -> Result<UserId, &'static str> {
        match (self.kind, to) {
            (SocketKind::Direct(peer), None) => Ok(peer),
            (SocketKind::Direct(peer), Some(to)) if to == peer => Ok(peer),
            (SocketKind::Direct(_), Some(_)) => {
                Err("this socket is bound to toUid; \"to\" names someone else")
            }
            (_, Some(to)) => Ok(to),
            (_, None) => Err("\"to\" is required on an inbox socket (or connect with toUid)"),
        }
    }

    pub(super) fn conversation(&self, to: Option<UserId>) -> Result<Conversation, &'static str> {
        match self.kind {
            SocketKind::Group(group) => Ok(Conversation::Group(group)),
            SocketKind::Inbox | SocketKind::Direct(_) => {
                Ok(Conversation::direct(self.user, self.peer(to)?))
            }
        }
    }

    // The fields of a send frame, then the socket's limiter and its place in the cluster.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        to: Option<UserId>,
        content: &str,
        client_id: Option<String>,
        reply_to: Option<i64>,
        mentions: Vec<UserId>,
        bucket: &mut Bucket,
        me: SocketRef,
    ) -> Answer {
        let peer = match self.kind {
            SocketKind::Group(_) => None,
            _ => match self.peer(to) {
                Ok(peer) => Some(peer),
                Err(reason) => return ready(Reply::invalid(reason)),
            },
        };
        // Not invalid frames: the client may simply retry later.
        if !bucket.take() {
            self.context
                .hub
                .message_stats()
                .refused(Refusal::RateLimited);
            return ready(Reply::valid(vec![ServerFrame::Error {
                code: Code::RateLimited.number(),
                content: "too many messages on this socket: slow down",
                client_id: client_id.as_deref(),
            }
            .encode()]));
        }
        if self.context.hub.user_rate().check(self.user).is_err() {
            self.context
                .hub
                .message_stats()
                .refused(Refusal::RateLimited);
            return ready(Reply::valid(vec![ServerFrame::Error {
                code: Code::RateLimited.number(),
                content: "too many messages from this user: slow down",
                client_id: client_id.as_deref(),
            }
            .encode()]));
        }
        let user = self.user;
        let chat = &self.context.chat;
        // The ack says so when a plugin stored another text than this.
        let submitted = content.to_owned();
        match (self.kind, peer) {
            (SocketKind::Group(group), _) => {
                let pending = chat
                    .submit_group(user, group, content, client_id.clone(), reply_to, Some(me))
                    .await
                    .map(|pending| chat.mentioning(pending, mentions));
                answer(pending, client_id, self.context.hub.clone(), move |sent| {
                    ServerFrame::GroupAck {
                        message: &sent.message,
                        group,
                    }
                    .encode_ack(&submitted)
                })
            }
            (_, Some(peer)) => {
                let pending = chat
                    .submit_direct(user, peer, content, client_id.clone(), reply_to, Some(me))
                    .await;
                answer(pending, client_id, self.context.hub.clone(), move |sent| {
                    ServerFrame::DirectAck {
                        message: &sent.message,
                        online: sent.recipient_online,
                    }
                    .encode_ack(&submitted)
                })
            }
            (_, None) => ready(Reply::invalid("a private frame needs a peer")),
        }
    }

    fn history(&self, conversation: Conversation, page: Page) -> Answer {
        let chat = self.context.chat.clone();
        let viewer = self.user;
        Box::pin(async move {
            let result = match page {
                Page::Before(id) => chat.history_before(conversation, viewer, id).await,
                Page::AfterSecs(secs) => chat.history_after(conversation, viewer, secs).await,
            };
            let decorated = match result {
                Ok(page) => {
                    let full = page.len() as u32 >= HISTORY_PAGE;
                    chat.decorate(viewer, page).await.map(|d| (d, full))
                }
                Err(err) => Err(err),
            };
            match decorated {
                Ok(((page, reactions), full)) => {
                    let mut frames: Vec<Utf8Bytes> = page
                        .iter()
                        .map(|m| listed(m, viewer, reactions.get(&m.id)))
                        .collect();
                    // A page that is not full has no more messages after it.
                    if !full {
                        frames.push(ServerFrame::End.encode());
                    }
                    Reply::valid(frames)
                }
                Err(err) => Reply::valid(vec![refusal(&err, None)]),
            }
        })
    }

    fn unread(&self, conversation: Conversation, me: SocketRef) -> Answer {
        let chat = self.context.chat.clone();
        let viewer = self.user;
        let page = self.context.limits.unread_page;
        Box::pin(async move {
            let taken = match chat.take_unread(conversation, viewer, page, Some(me)).await {
                Ok((unread, more)) => chat.decorate(viewer, unread).await.map(|d| (d, more)),
                Err(err) => Err(err),
            };
            match taken {
                Ok(((unread, reactions), more)) => {
                    let mut frames: Vec<Utf8Bytes> = unread
                        .iter()
                        .map(|m| listed(m, viewer, reactions.get(&m.id)))
                        .collect();
                    frames.push(if more {
                        ServerFrame::MoreUnread.encode()
                    } else {
                        ServerFrame::End.encode()
                    });
                    Reply::valid(frames)
                }
                Err(err) => Reply::valid(vec![refusal(&err, None)]),
            }
        })
    }
}

/// A message of a listing (history, unread), as the conversation's kind shows it.
fn listed(
    message: &Message,
    viewer: UserId,
    reactions: Option<&crate::messages::changes::Tally>,
) -> Utf8Bytes {
    ServerFrame::Listed {
        message,
        viewer,
        reactions,
    }
    .encode()
}

/// The answer to a send: the ack once stored, or why not; counted on `hub`.
fn answer(
    pending: Result<Pending, SendError>,
    client_id: Option<String>,
    hub: std::sync::Arc<Hub>,
    ack: impl FnOnce(&Sent) -> Utf8Bytes + Send + 'static,
) -> Answer {
    match pending {
        Ok(pending) => Box::pin(async move {
            match pending.await {
                Ok(sent) => {
                    hub.message_stats().accepted();
                    Reply::valid(vec![ack(&sent)])
                }
                Err(err) => {
                    hub.message_stats().refused(refusal_reason(&err));
                    send_refusal(err, client_id.as_deref())
                }
            }
        }),
        Err(err) => {
            hub.message_stats().refused(refusal_reason(&err));
            ready(send_refusal(err, client_id.as_deref()))
        }
    }
}

/// The `reason` a refused send is counted under.
fn refusal_reason(err: &SendError) -> Refusal {
    match err {
        SendError::Rejected { .. } | SendError::Failed(Error::PolicyDenied(_)) => Refusal::Plugin,
        SendError::Failed(Error::NotStored(_) | Error::TimedOut(_)) => Refusal::NotStored,
        SendError::Failed(Error::RateLimited { .. }) => Refusal::RateLimited,
        SendError::Failed(_) => Refusal::Other,
    }
}

/// Why a send was refused. A sender who is no longer a member of the group is told so and
/// the socket closes, as it would had the removal reached it first.
fn send_refusal(err: SendError, client_id: Option<&str>) -> Reply {
    match err {
        SendError::Rejected { code, reason } => Reply::valid(vec![ServerFrame::Error {
            code,
            content: &reason,
            client_id,
        }
        .encode()]),
        SendError::Failed(err @ Error::NoGroup(_)) => Reply {
            frames: vec![refusal(&err, client_id)],
            outcome: Outcome::Close(1008, "no longer a member of this group"),
        },
        SendError::Failed(err) => Reply::valid(vec![refusal(&err, client_id)]),
    }
}

/// An error frame for a host error; an internal one is logged here, once, with its cause.
pub(super) fn refusal(err: &Error, client_id: Option<&str>) -> Utf8Bytes {
    if let Error::Internal(cause) = err {
        let request = crate::telemetry::request_id();
        tracing::error!(
            error = format!("{cause:#}"),
            request_id = request.as_ref().map(|id| id.as_str()),
            "a WebSocket frame failed"
        );
    }
    ServerFrame::Error {
        code: err.code().number(),
        content: &err.public_reason(),
        client_id,
    }
    .encode()
}
