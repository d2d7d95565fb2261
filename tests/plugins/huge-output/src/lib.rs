//! Test plugin: rewrites every message to 4 MiB of text, more than any message may be.

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct HugeOutput;

/// The size of the rewrite, in bytes.
const SIZE: usize = 4 << 20;

impl Plugin for HugeOutput {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(_message: Message) -> Verdict {
        Verdict::Rewrite("x".repeat(SIZE))
    }
}

confab_plugin_sdk::export!(HugeOutput);
