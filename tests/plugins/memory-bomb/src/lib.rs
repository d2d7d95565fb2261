//! Test plugin: allocates memory in filter-message until the instance's memory limit
//! stops it (the allocator fails and the call traps).

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct MemoryBomb;

/// One allocation: big enough to reach any limit quickly.
const MIB: usize = 1 << 20;

impl Plugin for MemoryBomb {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(_message: Message) -> Verdict {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // A non-zero fill writes every page, so the memory is really used; `black_box`
            // keeps the optimiser from proving the allocations unused and removing them.
            hoard.push(vec![0xA5; MIB]);
            std::hint::black_box(&mut hoard);
        }
    }
}

confab_plugin_sdk::export!(MemoryBomb);
