//! The message-filter seam: every message passes a chain of filters between being received
//! and being stored. The plugins' filters make up the chain, which the hooks snapshot
//! (`plugins::hooks`) holds beside the other chains; with no plugins it is empty.
//!
//! Besides its text a draft carries its context: whether it is a new message or an edit,
//! and how its sender stands with where it goes ([`Relations`]). The relations take look-ups
//! (kept in memory, but read from the store on a miss), so they are worked out only when a
//! filter of the chain reads them ([`MessageFilter::reads_context`]).

use std::sync::Arc;

use async_trait::async_trait;

use crate::groups::Role;
use crate::messages::Conversation;
use crate::users::UserId;

/// A message as filters see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// Who sends it.
    pub sender: UserId,
    /// Where it goes.
    pub conversation: Conversation,
    /// The text so far (earlier rewrites applied).
    pub content: String,
    /// Server time, unix milliseconds.
    pub sent_at: i64,
    /// A new message or an edit.
    pub kind: DraftKind,
    /// How the sender stands with where the draft goes; `None` when no filter of the chain
    /// reads it.
    pub relations: Option<Relations>,
}

/// How a draft's sender stands with where it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relations {
    /// In a private conversation: the sender and the recipient each have the other on their
    /// friend list (one-sided entries do not count). Always false in a group.
    pub friends: bool,
    /// In a group: the sender's role there. `None` in a private conversation.
    pub sender_role: Option<Role>,
}

/// Why a text is being filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftKind {
    /// A new message.
    Send,
    /// A new text for a message already sent.
    Edit {
        /// The message being edited.
        message_id: i64,
    },
}

/// What a filter decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on unchanged.
    Allow,
    /// Pass it on with this text instead.
    Rewrite(String),
    /// Refuse it; the sender gets `code` and `reason`.
    Reject {
        /// The wire code sent to the sender (e.g. 50006).
        code: u32,
        /// Why, for the sender.
        reason: String,
    },
}

/// One filter.
#[async_trait]
pub trait MessageFilter: Send + Sync {
    /// A name for logs and counters.
    fn name(&self) -> &str;
    /// Decides about one message.
    async fn filter(&self, draft: &Draft) -> Verdict;
    /// Whether it reads [`Draft::relations`], which are then worked out before the chain
    /// runs.
    fn reads_context(&self) -> bool {
        false
    }
}

/// Filters in order: rewrites compose, the first reject wins.
#[derive(Clone, Default)]
pub struct FilterChain {
    filters: Vec<Arc<dyn MessageFilter>>,
    reads_context: bool,
}

impl std::fmt::Debug for FilterChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.filters.iter().map(|x| x.name()))
            .finish()
    }
}

impl FilterChain {
    /// A chain of these filters, run in this order.
    pub fn new(filters: Vec<Arc<dyn MessageFilter>>) -> Self {
        let reads_context = filters.iter().any(|filter| filter.reads_context());
        Self {
            filters,
            reads_context,
        }
    }

    /// Whether a filter of the chain reads [`Draft::relations`].
    pub fn reads_context(&self) -> bool {
        self.reads_context
    }

    /// Runs the chain: `Ok(final text)` or the first rejection as `Err((code, reason))`.
    pub async fn run(&self, mut draft: Draft) -> Result<String, (u32, String)> {
        for filter in &self.filters {
            match filter.filter(&draft).await {
                Verdict::Allow => {}
                Verdict::Rewrite(text) => draft.content = text,
                Verdict::Reject { code, reason } => return Err((code, reason)),
            }
        }
        Ok(draft.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Upper;
    struct Exclaim;
    struct NoBad;

    #[async_trait]
    impl MessageFilter for Upper {
        fn name(&self) -> &str {
            "upper"
        }
        async fn filter(&self, d: &Draft) -> Verdict {
            Verdict::Rewrite(d.content.to_uppercase())
        }
    }

    #[async_trait]
    impl MessageFilter for Exclaim {
        fn name(&self) -> &str {
            "exclaim"
        }
        async fn filter(&self, d: &Draft) -> Verdict {
            Verdict::Rewrite(format!("{}!", d.content))
        }
    }

    #[async_trait]
    impl MessageFilter for NoBad {
        fn name(&self) -> &str {
            "no-bad"
        }
        async fn filter(&self, d: &Draft) -> Verdict {
            if d.content.to_lowercase().contains("bad") {
                Verdict::Reject {
                    code: 30013,
                    reason: "no bad words".to_owned(),
                }
            } else {
                Verdict::Allow
            }
        }
    }

    fn draft(text: &str) -> Draft {
        Draft {
            sender: 1,
            conversation: crate::messages::Conversation::direct(1, 2),
            content: text.to_owned(),
            sent_at: 0,
            kind: DraftKind::Send,
            relations: None,
        }
    }

    #[tokio::test]
    async fn rewrites_compose_in_order_and_the_first_reject_wins() {
        let chain = FilterChain::new(vec![Arc::new(Upper), Arc::new(Exclaim)]);
        assert_eq!(chain.run(draft("hi")).await, Ok("HI!".to_owned()));
        let chain = FilterChain::new(vec![Arc::new(Upper), Arc::new(NoBad), Arc::new(Exclaim)]);
        assert_eq!(
            chain.run(draft("bad day")).await,
            Err((30013, "no bad words".to_owned()))
        );
        assert_eq!(
            FilterChain::default().run(draft("as is")).await,
            Ok("as is".to_owned())
        );
    }
}
