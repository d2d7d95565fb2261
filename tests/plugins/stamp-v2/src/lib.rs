//! Test plugin: appends " [v2]" to every message. With stamp-v1 (the same plugin name,
//! "stamp", at version 1.0.0) it shows a hot swap: the suffix says which version ran.

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct Stamp;

impl Plugin for Stamp {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(message: Message) -> Verdict {
        Verdict::Rewrite(format!("{} [v2]", message.content))
    }
}

confab_plugin_sdk::export!(Stamp);
