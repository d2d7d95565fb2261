//! The [`Plugin`] trait a plugin author implements, and the adapter that turns it into the
//! component's exports.

use std::marker::PhantomData;

use crate::__bindings::exports::confab::plugin::plugin::Guest;
use crate::{
    config, FilterContext, Group, Handoff, Hook, JoinDecision, Member, Message, UploadMeta,
    UploadVerdict, UserId, Verdict,
};

/// A Confab plugin: the hooks it takes part in and what it decides in each.
///
/// Implement it on a unit struct, list the hooks you implement in [`HOOKS`](Plugin::HOOKS),
/// override those methods and leave the others alone, then call [`export!`](crate::export)
/// once. Every method is an associated function, not a method on `self`: the server may
/// reset a plugin's memory between any two calls, so there is no instance to keep state in
/// (see [`kv`](crate::kv) for state that must last).
///
/// The server only calls the hooks named in `HOOKS` (and in the manifest's `hooks`), so the
/// defaults of the others are never used; they exist so that a plugin spells out only
/// what it does. A panic in any method is a failed call: the manifest's `failure` policy
/// decides what happens to the message, join or upload.
///
/// ```
/// use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};
///
/// /// Refuses empty messages.
/// pub struct NoEmpty;
///
/// impl Plugin for NoEmpty {
///     const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
///
///     fn filter_message(message: Message) -> Verdict {
///         if message.content.trim().is_empty() {
///             Verdict::reject(30013, "say something")
///         } else {
///             Verdict::Allow
///         }
///     }
/// }
///
/// confab_plugin_sdk::export!(NoEmpty);
/// ```
pub trait Plugin {
    /// The hooks this plugin implements, reported to the server when it loads the plugin.
    /// The manifest's `hooks` must be among them. Never empty.
    const HOOKS: &'static [Hook];

    /// Checks a configuration (a JSON document) before the server applies it. An error is
    /// shown to the operator and the old configuration stays in force.
    ///
    /// The default accepts any valid JSON. A plugin with settings should parse them into
    /// its own type with [`config::parse`], so that a typo in a key is refused here rather
    /// than silently ignored:
    ///
    /// ```
    /// use confab_plugin_sdk::{config, Hook, Plugin};
    ///
    /// #[derive(serde::Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Settings {
    ///     limit: u32,
    /// }
    ///
    /// struct Limited;
    ///
    /// impl Plugin for Limited {
    ///     const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
    ///
    ///     fn check_config(json: &str) -> Result<(), String> {
    ///         let settings: Settings = config::parse(json)?;
    ///         if settings.limit == 0 {
    ///             return Err("limit must be at least 1".to_owned());
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// assert!(Limited::check_config(r#"{"limit": 3}"#).is_ok());
    /// assert!(Limited::check_config(r#"{"limit": 0}"#).is_err());
    /// assert!(Limited::check_config(r#"{"limt": 3}"#).unwrap_err().contains("limt"));
    /// ```
    fn check_config(config: &str) -> Result<(), String> {
        config::parse::<serde_json::Value>(config).map(drop)
    }

    /// Decides about one private or group message before it is stored or delivered:
    /// [`Verdict::Allow`] passes it on, [`Verdict::Rewrite`] passes it on with new text (the
    /// next plugin in the chain sees the new text), [`Verdict::Reject`] refuses it with a
    /// code and reason the sender sees. The first rejection in the chain wins.
    ///
    /// Runs for every message, so it must be fast: a few microseconds is the aim.
    ///
    /// ```
    /// use confab_plugin_sdk::{Conversation, Hook, Message, Plugin, Verdict};
    ///
    /// /// Keeps group messages short.
    /// struct ShortGroups;
    ///
    /// impl Plugin for ShortGroups {
    ///     const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
    ///
    ///     fn filter_message(message: Message) -> Verdict {
    ///         match message.conversation {
    ///             Conversation::Group(_) if message.content.chars().count() > 280 => {
    ///                 Verdict::reject(30013, "group messages are at most 280 characters")
    ///             }
    ///             _ => Verdict::Allow,
    ///         }
    ///     }
    /// }
    ///
    /// let long = Message {
    ///     sender: 1,
    ///     conversation: Conversation::Group(7),
    ///     content: "a".repeat(300),
    ///     sent_at: 0,
    /// };
    /// assert!(matches!(ShortGroups::filter_message(long), Verdict::Reject(_)));
    /// ```
    fn filter_message(message: Message) -> Verdict {
        let _ = message;
        Verdict::Allow
    }

    /// Decides about one message knowing its context: whether it is a new message or an
    /// edit ([`DraftKind`](crate::DraftKind)), whether sender and recipient of a private
    /// message are friends (each has the other on their friend list), and the sender's role
    /// in a group. This is what the server calls for `filter-message`; the default ignores
    /// the context and calls [`filter_message`](Plugin::filter_message), so a plugin
    /// overrides one of the two.
    ///
    /// ```
    /// use confab_plugin_sdk::{Conversation, DraftKind, FilterContext, Hook, Message, Plugin, Role, Verdict};
    ///
    /// /// Only a group's owner and admins may post links there.
    /// struct StaffLinks;
    ///
    /// impl Plugin for StaffLinks {
    ///     const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
    ///
    ///     fn filter_in_context(message: Message, context: FilterContext) -> Verdict {
    ///         let staff = matches!(context.sender_role, Some(Role::Owner | Role::Admin));
    ///         match message.conversation {
    ///             Conversation::Group(_) if message.content.contains("://") && !staff => {
    ///                 Verdict::reject(30013, "only the owner and admins post links here")
    ///             }
    ///             _ => Verdict::Allow,
    ///         }
    ///     }
    /// }
    ///
    /// let link = Message {
    ///     sender: 1,
    ///     conversation: Conversation::Group(7),
    ///     content: "see https://example.com".into(),
    ///     sent_at: 0,
    /// };
    /// let as_role = |role| FilterContext { kind: DraftKind::Send, friends: false, sender_role: Some(role) };
    /// assert!(matches!(StaffLinks::filter_in_context(link.clone(), as_role(Role::Member)), Verdict::Reject(_)));
    /// assert_eq!(StaffLinks::filter_in_context(link, as_role(Role::Admin)), Verdict::Allow);
    /// ```
    fn filter_in_context(message: Message, context: FilterContext) -> Verdict {
        let _ = context;
        Self::filter_message(message)
    }

    /// Decides whether `user` may join `group`, which has `member_count` members now
    /// (before the join). A [`JoinDecision::Deny`] reason is shown to the user.
    ///
    /// ```
    /// use confab_plugin_sdk::{Group, Hook, JoinDecision, Plugin, UserId};
    ///
    /// /// Keeps one seat free for the owner's guests.
    /// struct SpareSeat;
    ///
    /// impl Plugin for SpareSeat {
    ///     const HOOKS: &'static [Hook] = &[Hook::OnJoin];
    ///
    ///     fn on_join(group: Group, _user: UserId, member_count: u32) -> JoinDecision {
    ///         if member_count + 1 >= group.size {
    ///             JoinDecision::deny("the last seat is reserved")
    ///         } else {
    ///             JoinDecision::Allow
    ///         }
    ///     }
    /// }
    ///
    /// let group = Group { id: 7, name: "book club".into(), owner: 1, size: 10 };
    /// assert_eq!(SpareSeat::on_join(group.clone(), 2, 3), JoinDecision::Allow);
    /// assert!(matches!(SpareSeat::on_join(group, 2, 9), JoinDecision::Deny(_)));
    /// ```
    fn on_join(group: Group, user: UserId, member_count: u32) -> JoinDecision {
        let _ = (group, user, member_count);
        JoinDecision::Allow
    }

    /// Picks the next owner of `group` when its owner `leaving` leaves, or dissolves it.
    /// `remaining` holds the other members, earliest-joined first, and is never empty; a
    /// [`Handoff::NewOwner`] must name one of them.
    ///
    /// The default hands the group to the earliest-joined remaining member.
    ///
    /// ```
    /// use confab_plugin_sdk::{Group, Handoff, Hook, Member, Plugin, Role, UserId};
    ///
    /// /// Hands the group to its most recent member, who is likely the most active.
    /// struct Newest;
    ///
    /// impl Plugin for Newest {
    ///     const HOOKS: &'static [Hook] = &[Hook::OnOwnerLeave];
    ///
    ///     fn on_owner_leave(_group: Group, _leaving: UserId, remaining: Vec<Member>) -> Handoff {
    ///         match remaining.iter().max_by_key(|m| m.joined_at) {
    ///             Some(member) => Handoff::NewOwner(member.user),
    ///             None => Handoff::Dissolve,
    ///         }
    ///     }
    /// }
    ///
    /// let group = Group { id: 7, name: "book club".into(), owner: 1, size: 10 };
    /// let remaining = vec![
    ///     Member { user: 2, role: Role::Admin, joined_at: 100 },
    ///     Member { user: 3, role: Role::Member, joined_at: 200 },
    /// ];
    /// assert_eq!(Newest::on_owner_leave(group, 1, remaining), Handoff::NewOwner(3));
    /// ```
    fn on_owner_leave(group: Group, leaving: UserId, remaining: Vec<Member>) -> Handoff {
        let _ = (group, leaving);
        remaining
            .iter()
            .min_by_key(|member| member.joined_at)
            .map_or(Handoff::Dissolve, |member| Handoff::NewOwner(member.user))
    }

    /// Decides about an uploaded file given what the client says about it (`meta`, which
    /// must not be trusted) and its first bytes (`head`, at most 512). An accepted file
    /// may be given a new extension through [`UploadVerdict::accept_as`]; the server always
    /// stores it under a random name of its own.
    ///
    /// The default accepts every upload unchanged.
    ///
    /// ```
    /// use confab_plugin_sdk::{Hook, Plugin, UploadMeta, UploadVerdict};
    ///
    /// /// Accepts PDF documents only.
    /// struct PdfOnly;
    ///
    /// impl Plugin for PdfOnly {
    ///     const HOOKS: &'static [Hook] = &[Hook::OnUpload];
    ///
    ///     fn on_upload(_meta: UploadMeta, head: Vec<u8>) -> UploadVerdict {
    ///         if head.starts_with(b"%PDF-") {
    ///             UploadVerdict::accept_as("document.pdf", "application/pdf")
    ///         } else {
    ///             UploadVerdict::reject("only PDF documents can be shared here")
    ///         }
    ///     }
    /// }
    ///
    /// let meta = UploadMeta { name: Some("cv.pdf".into()), content_type: None, size: 9, uploader: 1 };
    /// assert!(matches!(PdfOnly::on_upload(meta.clone(), b"%PDF-1.7\n".to_vec()), UploadVerdict::Accept(_)));
    /// assert!(matches!(PdfOnly::on_upload(meta, b"MZ\x90\0".to_vec()), UploadVerdict::Reject(_)));
    /// ```
    fn on_upload(meta: UploadMeta, head: Vec<u8>) -> UploadVerdict {
        let _ = (meta, head);
        UploadVerdict::accept()
    }
}

/// Implements the generated export trait for any [`Plugin`]; [`export!`](crate::export)
/// names `Adapter<YourPlugin>` as the component's implementation.
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Plugin> Guest for Adapter<P> {
    fn hooks() -> Vec<Hook> {
        P::HOOKS.to_vec()
    }

    fn check_config(config: String) -> Result<(), String> {
        P::check_config(&config)
    }

    fn filter_message(message: Message) -> Verdict {
        P::filter_message(message)
    }

    fn filter_in_context(message: Message, context: FilterContext) -> Verdict {
        P::filter_in_context(message, context)
    }

    fn on_join(group: Group, user: UserId, member_count: u32) -> JoinDecision {
        P::on_join(group, user, member_count)
    }

    fn on_owner_leave(group: Group, leaving: UserId, remaining: Vec<Member>) -> Handoff {
        P::on_owner_leave(group, leaving, remaining)
    }

    fn on_upload(meta: UploadMeta, head: Vec<u8>) -> UploadVerdict {
        P::on_upload(meta, head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Role, UploadAccept};

    struct Defaults;

    impl Plugin for Defaults {
        const HOOKS: &'static [Hook] = &[Hook::FilterMessage, Hook::OnUpload];
    }

    fn group() -> Group {
        Group {
            id: 7,
            name: "g".to_owned(),
            owner: 1,
            size: 10,
        }
    }

    #[test]
    fn the_adapter_reports_the_hooks() {
        assert_eq!(
            Adapter::<Defaults>::hooks(),
            vec![Hook::FilterMessage, Hook::OnUpload]
        );
    }

    #[test]
    fn the_default_config_check_wants_json() {
        assert!(Adapter::<Defaults>::check_config("{}".to_owned()).is_ok());
        assert!(Adapter::<Defaults>::check_config("{".to_owned()).is_err());
    }

    #[test]
    fn the_defaults_change_nothing() {
        let message = Message {
            sender: 1,
            conversation: crate::Conversation::Direct(2),
            content: "hi".to_owned(),
            sent_at: 0,
        };
        assert_eq!(Defaults::filter_message(message), Verdict::Allow);
        assert_eq!(Defaults::on_join(group(), 2, 3), JoinDecision::Allow);
        let meta = UploadMeta {
            name: None,
            content_type: None,
            size: 1,
            uploader: 1,
        };
        assert_eq!(
            Defaults::on_upload(meta, vec![0]),
            UploadVerdict::Accept(UploadAccept {
                name: None,
                content_type: None
            })
        );
    }

    /// Rejects everything, through `filter_message` only.
    struct RejectAll;

    impl Plugin for RejectAll {
        const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

        fn filter_message(_message: Message) -> Verdict {
            Verdict::reject(1, "no")
        }
    }

    #[test]
    fn the_server_calls_filter_in_context_which_defaults_to_filter_message() {
        let message = Message {
            sender: 1,
            conversation: crate::Conversation::Direct(2),
            content: "hi".to_owned(),
            sent_at: 0,
        };
        let context = FilterContext {
            kind: crate::DraftKind::Edit(7),
            friends: true,
            sender_role: None,
        };
        assert_eq!(
            Adapter::<RejectAll>::filter_in_context(message.clone(), context),
            Verdict::reject(1, "no")
        );
        assert_eq!(
            Adapter::<Defaults>::filter_in_context(message, context),
            Verdict::Allow
        );
    }

    #[test]
    fn the_default_handoff_picks_the_earliest_member() {
        let remaining = vec![
            Member {
                user: 3,
                role: Role::Member,
                joined_at: 20,
            },
            Member {
                user: 2,
                role: Role::Member,
                joined_at: 10,
            },
        ];
        assert_eq!(
            Defaults::on_owner_leave(group(), 1, remaining),
            Handoff::NewOwner(2)
        );
        assert_eq!(
            Defaults::on_owner_leave(group(), 1, Vec::new()),
            Handoff::Dissolve
        );
    }
}
