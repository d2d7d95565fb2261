//! What a session does with a change frame (types 10–15): edit, recall, delete for me,
//! react, receipts and typing. Each is answered with an acknowledgement (50002) or a
//! refusal; typing is answered with nothing, and notices past one per two seconds are
//! dropped.

use super::handle::refusal;
use super::{ready, Answer, Bucket, Reply, Session};
use crate::bus::SocketRef;
use crate::error::{Code, Error};
use crate::messages::changes::Scope;
use crate::messages::service::SendError;
use crate::users::UserId;
use crate::ws::change_frames::{ack, Request};
use crate::ws::hub::SocketKind;
use crate::ws::protocol::ServerFrame;

impl Session {
    /// Starts the answer to a change frame.
    pub(super) fn change(
        &self,
        to: Option<UserId>,
        request: Request,
        client_id: Option<String>,
        bucket: &mut Bucket,
        me: SocketRef,
    ) -> Answer {
        if matches!(request, Request::Typing) && !bucket.typing() {
            return ready(Reply::valid(Vec::new()));
        }
        if !matches!(request, Request::Typing) && !bucket.take() {
            return ready(Reply::valid(vec![ServerFrame::Error {
                code: Code::RateLimited.number(),
                content: "too many frames on this socket: slow down",
                client_id: client_id.as_deref(),
            }
            .encode()]));
        }
        // Message changes name the message; receipts and typing need the conversation.
        let scope = match self.kind {
            SocketKind::Inbox if to.is_none() => Scope::AnyDirect,
            _ => match self.conversation(to) {
                Ok(conversation) => Scope::Conversation(conversation),
                Err(reason) => return ready(Reply::invalid(reason)),
            },
        };
        let chat = self.context.chat.clone();
        let user = self.user;
        let origin = Some(me);
        Box::pin(async move {
            let mut stored = None;
            let done = match (&request, scope) {
                (Request::Edit { id, content }, _) => {
                    match chat.edit(user, scope, *id, content, origin).await {
                        Ok(message) => {
                            stored = Some(message.content);
                            Ok(())
                        }
                        Err(SendError::Rejected { code, reason }) => {
                            return Reply::valid(vec![ServerFrame::Error {
                                code,
                                content: &reason,
                                client_id: client_id.as_deref(),
                            }
                            .encode()]);
                        }
                        Err(SendError::Failed(err)) => Err(err),
                    }
                }
                (Request::Recall { id }, _) => chat.recall(user, scope, *id, origin).await,
                (Request::Hide { id }, _) => chat.hide(user, scope, *id, origin).await,
                (Request::React { id, emoji, on }, _) => chat
                    .react(user, scope, *id, emoji, *on, origin)
                    .await
                    .map(|_| ()),
                (Request::Receipt { id, delivered }, Scope::Conversation(conversation)) => {
                    if *delivered {
                        chat.delivered(user, conversation, *id).await
                    } else {
                        chat.read_up_to(user, conversation, *id, origin).await
                    }
                }
                (Request::Typing, Scope::Conversation(conversation)) => {
                    match chat.typing(user, conversation).await {
                        Ok(()) => return Reply::valid(Vec::new()),
                        Err(err) => Err(err),
                    }
                }
                (Request::Receipt { .. } | Request::Typing, Scope::AnyDirect) => Err(
                    Error::invalid("\"to\" is required on an inbox socket for receipts and typing"),
                ),
            };
            match done {
                Ok(()) => {
                    Reply::valid(vec![ack(&request, client_id.as_deref(), stored.as_deref())])
                }
                Err(err) => Reply::valid(vec![refusal(&err, client_id.as_deref())]),
            }
        })
    }
}
