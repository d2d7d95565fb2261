//! Test plugin: appends " [v1]" to every message. With stamp-v2 (the same plugin name,
//! "stamp", at version 2.0.0) it shows a hot swap: the suffix says which version ran.

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct Stamp;

impl Plugin for Stamp {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(message: Message) -> Verdict {
        Verdict::Rewrite(format!("{} [v1]", message.content))
    }
}

confab_plugin_sdk::export!(Stamp);
