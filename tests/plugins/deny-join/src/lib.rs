//! Test plugin: refuses joins to groups whose name starts with "closed", allows the rest.

use confab_plugin_sdk::{Group, Hook, JoinDecision, Plugin, UserId};

struct DenyJoin;

impl Plugin for DenyJoin {
    const HOOKS: &'static [Hook] = &[Hook::OnJoin];

    fn on_join(group: Group, _user: UserId, _member_count: u32) -> JoinDecision {
        if group.name.starts_with("closed") {
            JoinDecision::deny("this group is closed")
        } else {
            JoinDecision::Allow
        }
    }
}

confab_plugin_sdk::export!(DenyJoin);
