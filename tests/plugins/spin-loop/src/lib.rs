//! Test plugin: never returns from filter-message, so the call's deadline must stop it.

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct SpinLoop;

impl Plugin for SpinLoop {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(_message: Message) -> Verdict {
        let mut spins = 0u64;
        loop {
            // `black_box` hides the counter from the optimiser, so the loop stays a loop
            // that burns time rather than being folded away.
            spins = std::hint::black_box(spins).wrapping_add(1);
        }
    }
}

confab_plugin_sdk::export!(SpinLoop);
