//! What one user or one client address may hold and send across all its sockets.
//!
//! The per-socket token bucket (in the session) stops one socket from flooding; these stop
//! a user who opens many sockets, or an address that opens sockets for many accounts.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::ChatConfig;
use crate::users::UserId;

/// How many sockets one user and one address may hold on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketCaps {
    /// Sockets per user.
    pub per_user: usize,
    /// Sockets per client address.
    pub per_address: usize,
}

impl SocketCaps {
    /// The caps of `[chat]`.
    pub fn from_config(chat: &ChatConfig) -> Self {
        Self {
            per_user: chat.max_sockets_per_user,
            per_address: chat.max_sockets_per_address,
        }
    }

    /// No practical cap (tests of other things).
    pub fn unlimited() -> Self {
        Self {
            per_user: usize::MAX,
            per_address: usize::MAX,
        }
    }
}

/// Why a socket was not admitted: the close code and reason it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The WebSocket close code (1008, policy).
    pub code: u16,
    /// Why, for the client.
    pub reason: &'static str,
}

/// Sends per user across all their sockets on this node, with GCRA (governor).
///
/// The limiter keeps one small state per user who sent recently; [`UserRate::sweep`] drops
/// the states of users whose bucket is full again, so its memory follows the users active
/// in the last burst period rather than every user ever seen.
#[derive(Debug, Clone)]
pub struct UserRate {
    limiter: Arc<DefaultKeyedRateLimiter<UserId>>,
}

impl UserRate {
    /// `per_second` on average, `burst` at once (both at least 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
        }
    }

    /// The rate of `[chat]`.
    pub fn from_config(chat: &ChatConfig) -> Self {
        Self::new(chat.user_messages_per_second, chat.user_message_burst)
    }

    /// Takes one send for `user`, or says how long until one is allowed.
    pub fn check(&self, user: UserId) -> Result<(), Duration> {
        self.limiter
            .check_key(&user)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets users whose allowance is whole again.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Users with a state kept.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no user has a state kept.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// Counts of open sockets per user and per address, checked against [`SocketCaps`].
#[derive(Debug, Default)]
pub(crate) struct Census {
    per_address: std::collections::HashMap<IpAddr, usize>,
}

impl Census {
    /// Whether a socket from `address` may join, given the user's open sockets.
    pub(crate) fn admit(
        &self,
        user_sockets: usize,
        address: Option<IpAddr>,
        caps: SocketCaps,
    ) -> Result<(), Refused> {
        if user_sockets >= caps.per_user {
            return Err(Refused {
                code: 1008,
                reason: "too many open sockets for this user: close one first",
            });
        }
        if let Some(address) = address {
            if self.per_address.get(&address).copied().unwrap_or(0) >= caps.per_address {
                return Err(Refused {
                    code: 1008,
                    reason: "too many open sockets from this address",
                });
            }
        }
        Ok(())
    }

    pub(crate) fn add(&mut self, address: Option<IpAddr>) {
        if let Some(address) = address {
            *self.per_address.entry(address).or_default() += 1;
        }
    }

    pub(crate) fn remove(&mut self, address: Option<IpAddr>) {
        let Some(address) = address else { return };
        if let Some(count) = self.per_address.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_past_the_burst_waits_and_others_do_not() {
        let rate = UserRate::new(1, 3);
        for _ in 0..3 {
            assert!(rate.check(7).is_ok());
        }
        let wait = rate
            .check(7)
            .expect_err("the fourth send of a burst of 3 waits");
        assert!(wait <= Duration::from_secs(1));
        assert!(
            rate.check(8).is_ok(),
            "another user has an allowance of their own"
        );
        assert_eq!(rate.len(), 2);
    }

    #[test]
    fn the_census_refuses_at_each_cap_and_frees_on_remove() {
        let caps = SocketCaps {
            per_user: 2,
            per_address: 3,
        };
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut census = Census::default();
        assert!(census.admit(1, Some(ip), caps).is_ok());
        assert_eq!(
            census.admit(2, Some(ip), caps).map_err(|r| r.code),
            Err(1008)
        );
        for _ in 0..3 {
            census.add(Some(ip));
        }
        let refused = census.admit(0, Some(ip), caps).expect_err("address full");
        assert!(refused.reason.contains("address"));
        assert!(census.admit(0, Some([10, 0, 0, 2].into()), caps).is_ok());
        assert!(census.admit(0, None, caps).is_ok());
        census.remove(Some(ip));
        assert!(census.admit(0, Some(ip), caps).is_ok());
        for _ in 0..5 {
            census.remove(Some(ip));
        }
        assert!(census.per_address.is_empty());
    }
}
