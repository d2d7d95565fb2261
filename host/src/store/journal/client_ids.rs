//! Which (sender, client id) pairs may be stored: a Bloom filter over every message with a
//! client id in SQLite or in the log, so that a batch whose client ids are all new is
//! given its ids without asking SQLite first.
//!
//! Why: every batch used to look its client ids up in SQLite (a resend may repeat a
//! message stored long before), one hand-off to a SQLite thread and back per batch, on
//! the way to the acknowledgement. Almost every client id is new, and a Bloom filter says
//! so with no false "new": a pair it has not seen was never stored. A "maybe" (a resend,
//! or about one new pair in a hundred) is looked up in SQLite as before.
//!
//! Invariants:
//! - While the filter is [`State::Building`] or [`State::Full`] it answers "maybe" to
//!   everything, so the duplicate check is exactly what it was without it.
//! - It is only [`State::Ready`] once it holds every pair SQLite held when it was made
//!   (read by a scan in id order), every pair the log's queue held then, and every pair
//!   appended since (inserted under the queue's lock by each append).
//! - It never forgets a pair: a recalled or purged message leaves a "maybe" behind.

use std::hash::Hash;

use fastbloom::BloomFilter;

use crate::users::UserId;

/// Pairs a filter is made for at least, by default.
pub(crate) const MIN_CAPACITY: usize = 1 << 20;
/// Past this many pairs no filter is made: every client id is looked up in SQLite (a
/// filter for this many takes about 38 MiB).
pub(super) const MAX_CAPACITY: usize = 32 << 20;
/// The share of new pairs the filter calls "maybe" when it holds its capacity.
const FALSE_POSITIVES: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// SQLite's pairs are being read in; until then every pair is a "maybe".
    Building,
    /// Holds every stored pair.
    Ready,
    /// Holds more pairs than it was made for (its answers would grow unreliable as a
    /// filter, not as a check: it still has no false "new") or none could be made; every
    /// pair is a "maybe" until a larger one is ready.
    Full,
}

/// The filter, its capacity and how many pairs went in; the log keeps it beside its queue,
/// under the same lock.
pub(super) struct ClientIds {
    filter: BloomFilter,
    capacity: usize,
    len: usize,
    state: State,
    /// Tells a scan that reads SQLite into this filter from one meant for an earlier one.
    generation: u64,
}

impl ClientIds {
    /// An empty filter for `capacity` pairs, waiting for the scan of SQLite.
    pub(super) fn building(capacity: usize, generation: u64) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        Self {
            filter: BloomFilter::with_false_pos(FALSE_POSITIVES)
                .seed(&rand::random::<u128>())
                .expected_items(capacity),
            capacity,
            len: 0,
            state: State::Building,
            generation,
        }
    }

    /// A filter that answers "maybe" to everything and is never built: for a history too
    /// large for one.
    pub(super) fn off(generation: u64) -> Self {
        Self {
            filter: BloomFilter::with_num_bits(64).hashes(1),
            capacity: 0,
            len: 0,
            state: State::Full,
            generation,
        }
    }

    /// The capacity a filter for a history of `stored` pairs is made with (at least
    /// `least`), or `None` when that is past [`MAX_CAPACITY`]: room to double before it
    /// is full.
    pub(super) fn capacity_for(stored: usize, least: usize) -> Option<usize> {
        let wanted = stored.saturating_mul(2).max(least);
        (wanted <= MAX_CAPACITY).then_some(wanted)
    }

    #[cfg(test)]
    pub(super) fn state(&self) -> State {
        self.state
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Holds more pairs than it was made for (a filter that is off never does): time for a
    /// larger one.
    pub(super) fn outgrown(&self) -> bool {
        self.capacity > 0 && self.len > self.capacity
    }

    /// Whether `(sender, client_id)` may have been stored: false only when it certainly
    /// was not.
    pub(super) fn may_hold(&self, sender: UserId, client_id: &str) -> bool {
        self.state != State::Ready || self.filter.contains(&key(sender, client_id))
    }

    /// Takes note of a stored pair.
    pub(super) fn insert(&mut self, sender: UserId, client_id: &str) {
        if self.capacity == 0 {
            return;
        }
        self.filter.insert(&key(sender, client_id));
        self.len += 1;
        if self.len > self.capacity {
            self.state = State::Full;
        }
    }

    /// The scan of SQLite is done: the filter holds every stored pair.
    pub(super) fn built(&mut self) {
        if self.state == State::Building {
            self.state = State::Ready;
        }
    }
}

fn key(sender: UserId, client_id: &str) -> impl Hash + '_ {
    (sender, client_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_maybe_to_everything_until_built() {
        let mut ids = ClientIds::building(MIN_CAPACITY, 1);
        assert!(ids.may_hold(1, "never stored"));
        ids.insert(1, "a");
        ids.built();
        assert_eq!(ids.state(), State::Ready);
        assert!(ids.may_hold(1, "a"));
        assert!(!ids.may_hold(1, "never stored"));
        assert!(!ids.may_hold(2, "a"), "the sender is part of the pair");
    }

    #[test]
    fn never_calls_a_stored_pair_new() {
        let mut ids = ClientIds::building(MIN_CAPACITY, 1);
        for n in 0..50_000 {
            ids.insert(n % 97, &format!("client-{n}"));
        }
        ids.built();
        for n in 0..50_000 {
            assert!(ids.may_hold(n % 97, &format!("client-{n}")), "pair {n}");
        }
        // And calls most new pairs new.
        let maybes = (0..10_000)
            .filter(|n| ids.may_hold(1, &format!("other-{n}")))
            .count();
        assert!(maybes < 200, "{maybes} of 10,000 new pairs were a maybe");
    }

    #[test]
    fn past_its_capacity_it_says_maybe_again() {
        let mut ids = ClientIds::building(1000, 1);
        ids.built();
        for n in 0..=1000 {
            ids.insert(1, &n.to_string());
        }
        assert_eq!(ids.state(), State::Full);
        assert!(ids.may_hold(1, "never stored"));
        // Being built again does not make a full filter trusted.
        ids.built();
        assert!(ids.may_hold(1, "never stored"));
    }

    #[test]
    fn a_history_too_large_gets_no_filter() {
        assert_eq!(ClientIds::capacity_for(0, MIN_CAPACITY), Some(MIN_CAPACITY));
        assert_eq!(
            ClientIds::capacity_for(3 << 20, MIN_CAPACITY),
            Some(6 << 20)
        );
        assert_eq!(ClientIds::capacity_for(MAX_CAPACITY, MIN_CAPACITY), None);
        let mut off = ClientIds::off(1);
        off.insert(1, "a");
        off.built();
        assert!(off.may_hold(1, "never stored"));
        assert_eq!(off.len(), 0);
    }
}
