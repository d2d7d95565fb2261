//! The `stranger-limit` plugin: the seed's rule that in a private conversation a user may
//! send at most `limit` messages to someone who has not replied yet.
//!
//! It keeps one counter per direction in the plugin's key-value store, so the rule holds
//! across plugin instances, restarts of an instance and (with Redis) the server's nodes.
//! When S writes to P, P's counter towards S is cleared (S has just replied to P), then S's
//! counter towards P goes up by one; above `limit`, the message is refused. Group messages
//! are never counted, nor are edits of a message already sent.
//!
//! Friends are exempt by default (`exempt_friends`): when the server says the sender and the
//! recipient are friends (each has the other on their friend list), the message is neither
//! counted nor refused. A one-sided entry does not exempt anyone, so a sender cannot lift
//! the rule by adding their target as a friend.
//!
//! Counters expire as in the seed: a counted message gives its counter 90 days from now,
//! a refused one 30 days (so a refused sender may write again 30 days after their last
//! try). Every counter expiring keeps the store to conversations that are still going; the
//! store's bound drops the least recently used counters first, should a flood of strangers
//! fill it.

use std::time::Duration;

use confab_plugin_sdk::{
    config, kv, log, Conversation, DraftKind, FilterContext, Hook, Message, Plugin, UserId, Verdict,
};
use serde::Deserialize;

/// The plugin.
pub struct StrangerLimit;

impl Plugin for StrangerLimit {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn check_config(json: &str) -> Result<(), String> {
        config::parse::<Settings>(json)?.check()
    }

    fn filter_in_context(message: Message, context: FilterContext) -> Verdict {
        match config::get::<Settings>() {
            Ok(settings) => decide(&message, &context, &settings, &mut HostCounters),
            Err(error) => {
                // Unreachable while the server applies only checked configurations; failing
                // open matches the manifest.
                log::error(format_args!("invalid configuration, allowing: {error}"));
                Verdict::Allow
            }
        }
    }
}

confab_plugin_sdk::export!(StrangerLimit);

/// The configuration; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// How many messages a user may send before the other side replies.
    limit: u32,
    /// How long a count lasts after the last counted message; 0 keeps it until a reply.
    /// `window_secs` is its older name.
    #[serde(alias = "window_secs")]
    counted_ttl_secs: u64,
    /// How long a refused sender stays refused after their last refused message; 0 keeps
    /// them refused until a reply.
    refused_ttl_secs: u64,
    /// The code a refused sender sees.
    code: u32,
    /// The reason a refused sender sees.
    reason: String,
    /// Whether friends (each on the other's friend list) may write to each other freely.
    exempt_friends: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            limit: 3,
            counted_ttl_secs: COUNTED_TTL_SECS,
            refused_ttl_secs: REFUSED_TTL_SECS,
            code: 50006,
            reason: REASON.to_owned(),
            exempt_friends: true,
        }
    }
}

impl Settings {
    /// The checks serde cannot express.
    fn check(&self) -> Result<(), String> {
        if self.limit == 0 {
            return Err("limit must be at least 1".to_owned());
        }
        Ok(())
    }

    /// How long a counter lasts after a counted message, if it expires at all.
    fn counted_ttl(&self) -> Option<Duration> {
        ttl(self.counted_ttl_secs)
    }

    /// How long a counter lasts after a refused message, if it expires at all.
    fn refused_ttl(&self) -> Option<Duration> {
        ttl(self.refused_ttl_secs)
    }
}

/// The default reason, in English and in the seed's words.
const REASON: &str = "limit reached: wait for a reply / 达到限制";

/// The seed's expiry of a counter after a counted message: 90 days.
const COUNTED_TTL_SECS: u64 = 90 * 24 * 60 * 60;
/// The seed's expiry of a counter after a refused message: 30 days.
const REFUSED_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// A number of seconds as an expiry; 0 is none.
fn ttl(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The counters the rule needs, as a trait so the tests can keep them in a map.
trait Counters {
    /// Forgets the counter under `key`.
    fn clear(&mut self, key: &str);
    /// Adds one to the counter under `key` (a new counter expires after `ttl`) and returns
    /// the new count.
    fn bump(&mut self, key: &str, ttl: Option<Duration>) -> i64;
    /// Makes the counter under `key` expire `ttl` from now (never with `None`).
    fn expire(&mut self, key: &str, ttl: Option<Duration>);
}

/// The counters in the server's key-value store.
struct HostCounters;

impl Counters for HostCounters {
    fn clear(&mut self, key: &str) {
        kv::delete(key);
    }

    fn bump(&mut self, key: &str, ttl: Option<Duration>) -> i64 {
        kv::incr(key, 1, ttl)
    }

    fn expire(&mut self, key: &str, ttl: Option<Duration>) {
        kv::expire(key, ttl);
    }
}

/// The key of the count of messages `from` sent to `to` without a reply.
fn key(from: UserId, to: UserId) -> String {
    format!("unanswered:{from}:{to}")
}

/// Counts `message` and decides about it.
fn decide(
    message: &Message,
    context: &FilterContext,
    settings: &Settings,
    counters: &mut impl Counters,
) -> Verdict {
    let Conversation::Direct(peer) = message.conversation else {
        return Verdict::Allow;
    };
    // An edit is not one more message; friends write freely unless the operator says not.
    if matches!(context.kind, DraftKind::Edit(_)) || (settings.exempt_friends && context.friends) {
        return Verdict::Allow;
    }
    let sender = message.sender;
    // The sender answers whatever the peer sent: the peer may write freely again.
    counters.clear(&key(peer, sender));
    let own = key(sender, peer);
    let sent = counters.bump(&own, settings.counted_ttl());
    if sent > i64::from(settings.limit) {
        counters.expire(&own, settings.refused_ttl());
        Verdict::reject(settings.code, settings.reason.as_str())
    } else {
        // A new counter got its expiry from `bump`; a running one starts it over.
        if sent > 1 {
            counters.expire(&own, settings.counted_ttl());
        }
        Verdict::Allow
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Counters in a map, recording the expiry each was created with.
    #[derive(Default)]
    struct MapCounters(HashMap<String, (i64, Option<Duration>)>);

    impl Counters for MapCounters {
        fn clear(&mut self, key: &str) {
            self.0.remove(key);
        }

        fn bump(&mut self, key: &str, ttl: Option<Duration>) -> i64 {
            let entry = self.0.entry(key.to_owned()).or_insert((0, ttl));
            entry.0 += 1;
            entry.0
        }

        fn expire(&mut self, key: &str, ttl: Option<Duration>) {
            if let Some(entry) = self.0.get_mut(key) {
                entry.1 = ttl;
            }
        }
    }

    fn direct(sender: UserId, to: UserId) -> Message {
        Message {
            sender,
            conversation: Conversation::Direct(to),
            content: "hello".to_owned(),
            sent_at: 0,
        }
    }

    fn settings(json: &str) -> Settings {
        config::parse(json).expect("a valid configuration")
    }

    /// A new message between users who are not friends.
    fn stranger() -> FilterContext {
        FilterContext {
            kind: DraftKind::Send,
            friends: false,
            sender_role: None,
        }
    }

    /// Decides about a new message between strangers.
    fn count(message: &Message, settings: &Settings, counters: &mut MapCounters) -> Verdict {
        decide(message, &stranger(), settings, counters)
    }

    #[test]
    fn friends_write_freely_unless_the_operator_says_not() {
        let friends = FilterContext {
            friends: true,
            ..stranger()
        };
        let settings = settings(r#"{"limit": 1}"#);
        let mut counters = MapCounters::default();
        for _ in 0..5 {
            assert_eq!(
                decide(&direct(1, 2), &friends, &settings, &mut counters),
                Verdict::Allow
            );
        }
        assert!(counters.0.is_empty(), "friends are not even counted");
        let strict = self::settings(r#"{"limit": 1, "exempt_friends": false}"#);
        assert_eq!(
            decide(&direct(1, 2), &friends, &strict, &mut counters),
            Verdict::Allow
        );
        assert!(matches!(
            decide(&direct(1, 2), &friends, &strict, &mut counters),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn edits_are_not_counted() {
        let edit = FilterContext {
            kind: DraftKind::Edit(42),
            ..stranger()
        };
        let settings = settings(r#"{"limit": 1}"#);
        let mut counters = MapCounters::default();
        assert_eq!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::Allow
        );
        for _ in 0..3 {
            assert_eq!(
                decide(&direct(1, 2), &edit, &settings, &mut counters),
                Verdict::Allow
            );
        }
        assert!(matches!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn the_default_reason_is_english_and_the_seeds_chinese() {
        assert_eq!(
            Settings::default().reason,
            "limit reached: wait for a reply / 达到限制"
        );
    }

    #[test]
    fn the_fourth_unanswered_message_is_refused() {
        let settings = settings("{}");
        let mut counters = MapCounters::default();
        for _ in 0..3 {
            assert_eq!(
                count(&direct(1, 2), &settings, &mut counters),
                Verdict::Allow
            );
        }
        assert_eq!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::reject(50006, REASON)
        );
        assert!(matches!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn a_reply_lets_the_first_sender_write_again() {
        let settings = settings("{}");
        let mut counters = MapCounters::default();
        for _ in 0..4 {
            count(&direct(1, 2), &settings, &mut counters);
        }
        assert_eq!(
            count(&direct(2, 1), &settings, &mut counters),
            Verdict::Allow
        );
        for _ in 0..3 {
            assert_eq!(
                count(&direct(1, 2), &settings, &mut counters),
                Verdict::Allow
            );
        }
        assert!(matches!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn conversations_are_counted_apart() {
        let settings = settings(r#"{"limit": 1}"#);
        let mut counters = MapCounters::default();
        assert_eq!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::Allow
        );
        assert_eq!(
            count(&direct(1, 3), &settings, &mut counters),
            Verdict::Allow
        );
        assert_eq!(
            count(&direct(3, 2), &settings, &mut counters),
            Verdict::Allow
        );
        assert!(matches!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn group_messages_are_not_counted() {
        let settings = settings(r#"{"limit": 1}"#);
        let mut counters = MapCounters::default();
        let group = Message {
            conversation: Conversation::Group(9),
            ..direct(1, 2)
        };
        for _ in 0..5 {
            assert_eq!(count(&group, &settings, &mut counters), Verdict::Allow);
        }
        assert!(counters.0.is_empty());
    }

    #[test]
    fn counters_expire_after_90_days_and_refusals_after_30_as_in_the_seed() {
        let settings = settings("{}");
        let mut counters = MapCounters::default();
        let days = |n: u64| Some(Duration::from_secs(n * 24 * 60 * 60));
        count(&direct(1, 2), &settings, &mut counters);
        assert_eq!(counters.0[&key(1, 2)], (1, days(90)));
        count(&direct(1, 2), &settings, &mut counters);
        count(&direct(1, 2), &settings, &mut counters);
        assert_eq!(counters.0[&key(1, 2)], (3, days(90)));
        count(&direct(1, 2), &settings, &mut counters);
        assert_eq!(counters.0[&key(1, 2)], (4, days(30)), "refused: 30 days");
    }

    #[test]
    fn expiries_can_change_and_zero_keeps_a_counter_until_a_reply() {
        let mut counters = MapCounters::default();
        let short = settings(r#"{"limit": 1, "counted_ttl_secs": 60, "refused_ttl_secs": 5}"#);
        count(&direct(1, 2), &short, &mut counters);
        assert_eq!(counters.0[&key(1, 2)].1, Some(Duration::from_secs(60)));
        count(&direct(1, 2), &short, &mut counters);
        assert_eq!(counters.0[&key(1, 2)].1, Some(Duration::from_secs(5)));
        let never = settings(r#"{"counted_ttl_secs": 0, "refused_ttl_secs": 0}"#);
        count(&direct(3, 4), &never, &mut counters);
        count(&direct(3, 4), &never, &mut counters);
        assert_eq!(counters.0[&key(3, 4)], (2, None));
        // The older name of the setting still reads.
        let old = settings(r#"{"window_secs": 60}"#);
        assert_eq!(old.counted_ttl(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn the_code_and_reason_can_change() {
        let settings = settings(r#"{"limit": 1, "code": 42, "reason": "wait for a reply"}"#);
        let mut counters = MapCounters::default();
        count(&direct(1, 2), &settings, &mut counters);
        assert_eq!(
            count(&direct(1, 2), &settings, &mut counters),
            Verdict::reject(42, "wait for a reply")
        );
    }

    #[test]
    fn bad_configurations_say_what_is_wrong() {
        for (json, needle) in [
            (r#"{"limit": 0}"#, "at least 1"),
            (r#"{"limit": -1}"#, "invalid value"),
            (r#"{"window": 60}"#, "window"),
            (r#"{"window_secs": "1m"}"#, "invalid type"),
            (r#"{"refused_ttl_secs": -1}"#, "invalid value"),
        ] {
            let error = StrangerLimit::check_config(json).expect_err(json);
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn the_manifest_matches_the_plugin() {
        confab_plugin_sdk::testing::check_manifest::<StrangerLimit>(include_str!("../plugin.toml"))
            .expect("plugin.toml");
    }
}
