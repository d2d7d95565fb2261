//! Test plugin: panics in filter-message, which traps the call (the profile aborts on
//! panic).

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct Trap;

impl Plugin for Trap {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(_message: Message) -> Verdict {
        panic!("the trap test plugin fails every call")
    }
}

confab_plugin_sdk::export!(Trap);
