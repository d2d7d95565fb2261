//! Test plugin built against interface 0.2: it answers "context?" with the context it was
//! handed (`send|edit:<id> friends=<bool> role=<owner|admin|member|none>`), and refuses
//! "staff only" from anyone but a group's owner or admins.

use confab_plugin_sdk::{DraftKind, FilterContext, Hook, Message, Plugin, Role, Verdict};

struct ContextProbe;

impl Plugin for ContextProbe {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_in_context(message: Message, context: FilterContext) -> Verdict {
        let staff = matches!(context.sender_role, Some(Role::Owner | Role::Admin));
        match message.content.as_str() {
            "context?" => Verdict::Rewrite(describe(&context)),
            "staff only" if !staff => Verdict::reject(30013, "only the owner and admins say that"),
            _ => Verdict::Allow,
        }
    }
}

confab_plugin_sdk::export!(ContextProbe);

fn describe(context: &FilterContext) -> String {
    let kind = match context.kind {
        DraftKind::Send => "send".to_owned(),
        DraftKind::Edit(id) => format!("edit:{id}"),
    };
    let role = match context.sender_role {
        Some(Role::Owner) => "owner",
        Some(Role::Admin) => "admin",
        Some(Role::Member) => "member",
        None => "none",
    };
    format!("{kind} friends={} role={role}", context.friends)
}
