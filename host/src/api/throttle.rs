//! Request throttles of the routes that check passwords, send mail or guard the operator
//! API, per client address and per account name, and the client address itself.
//!
//! Each route has a keyed GCRA limiter (governor) for client addresses and, where the request
//! names an account, one for names. A refused request answers 429 with `Retry-After`
//! (`Error::RateLimited`, code 30019) before any password is checked or mail is sent.
//!
//! Memory is bounded. Keys are 64-bit keyed hashes (SipHash with a per-process random key),
//! so a long name costs no more than a short one and nobody can aim collisions. Every
//! [`SWEEP_EVERY`] the limiters drop the keys whose bucket is full again
//! (`retain_recent`). A limiter that reaches `throttle.max_keys` sweeps at once, and if it is
//! still full, every request it checks shares one bucket until keys age out: stricter, never
//! looser. One key takes well under 64 bytes, so a limiter holds at most about
//! `max_keys × 64` bytes (6.4 MB with the default 100 000), whatever a flood of distinct
//! addresses or names sends.

use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::config::{AddressThrottle, NamedThrottle, Rate, ThrottleConfig};
use crate::error::{Error, Result};

/// How often every limiter drops the keys whose bucket is full again.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The least time between two sweeps forced by a full limiter.
const FULL_SWEEP_SPACING: Duration = Duration::from_secs(1);

/// The key every request of a full limiter shares.
const OVERFLOW_KEY: u64 = u64::MAX;

/// The address a request comes from: the socket's peer, or, when the peer is a trusted
/// proxy, the right-most address in `X-Forwarded-For` that is not a trusted proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Every throttle of the REST edge, and the proxies whose forwarding is believed.
#[derive(Clone)]
pub struct Throttles {
    inner: Arc<Inner>,
}

struct Inner {
    /// `/user/login`.
    login: Throttle,
    /// `/user/register`.
    register: Throttle,
    /// `/user/refresh`.
    refresh: Throttle,
    /// `/user/emailCheck`.
    email_check: Throttle,
    /// `/admin/*` and `/metrics`.
    admin: Throttle,
    trusted: Vec<IpNet>,
}

impl std::fmt::Debug for Throttles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttles")
            .field("trusted", &self.inner.trusted)
            .finish_non_exhaustive()
    }
}

impl Throttles {
    /// The throttles of `[throttle]`, believing `X-Forwarded-For` from `trusted` peers.
    /// Starts the periodic sweep, which ends when the last clone is dropped.
    pub fn new(config: &ThrottleConfig, trusted: &[IpNet]) -> Self {
        let hasher = std::hash::RandomState::new();
        let max_keys = config.max_keys;
        let named = |t: &NamedThrottle| Throttle {
            address: Limiter::new(t.address, max_keys, hasher.clone()),
            name: Some(Limiter::new(t.name, max_keys, hasher.clone())),
        };
        let by_address = |t: &AddressThrottle| Throttle {
            address: Limiter::new(t.address, max_keys, hasher.clone()),
            name: None,
        };
        let inner = Arc::new(Inner {
            login: named(&config.login),
            register: named(&config.register),
            refresh: by_address(&config.refresh),
            email_check: named(&config.email_check),
            admin: by_address(&config.admin),
            trusted: trusted.to_vec(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep(Arc::downgrade(&inner)));
        }
        Self { inner }
    }

    /// `/user/login`.
    pub fn login(&self) -> &Throttle {
        &self.inner.login
    }

    /// `/user/register`.
    pub fn register(&self) -> &Throttle {
        &self.inner.register
    }

    /// `/user/refresh`.
    pub fn refresh(&self) -> &Throttle {
        &self.inner.refresh
    }

    /// `/user/emailCheck`.
    pub fn email_check(&self) -> &Throttle {
        &self.inner.email_check
    }

    /// Whether the socket peer of a request with these extensions is a trusted proxy.
    pub fn from_trusted_proxy(&self, extensions: &Extensions) -> bool {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(addr)| {
                let peer = addr.ip().to_canonical();
                self.inner.trusted.iter().any(|net| net.contains(&peer))
            })
    }

    /// The client address of a request with these extensions and headers.
    pub fn client_of(&self, extensions: &Extensions, headers: &HeaderMap) -> Result<ClientAddr> {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "the server runs without connection info, so the client address is unknown"
                ))
            })?;
        Ok(ClientAddr(client_address(
            peer,
            headers,
            &self.inner.trusted,
        )))
    }
}

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    Throttles: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Throttles::from_ref(state).client_of(&parts.extensions, &parts.headers)
    }
}

/// Middleware: the operator routes (`/admin`, `/admin/*`, `/metrics`) are throttled per
/// client address before the admin token is even looked at; other paths pass untouched.
pub async fn guard_operator_routes(
    State(throttles): State<Throttles>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/admin" || path.starts_with("/admin/") || path == "/metrics" {
        let checked = throttles
            .client_of(request.extensions(), request.headers())
            .and_then(|client| throttles.inner.admin.check(client, None));
        if let Err(err) = checked {
            return err.into_response();
        }
    }
    next.run(request).await
}

/// One route's limits: per client address and, where the request names one, per name.
pub struct Throttle {
    address: Limiter,
    name: Option<Limiter>,
}

impl Throttle {
    /// Takes one request of `client` (and of `name`, compared without case), or refuses it
    /// with `Error::RateLimited` and the seconds until a retry can pass.
    pub fn check(&self, client: ClientAddr, name: Option<&str>) -> Result<()> {
        self.address.check(self.address.key_of_address(client.0))?;
        if let (Some(limiter), Some(name)) = (&self.name, name) {
            let name = name.trim().to_lowercase();
            limiter.check(limiter.key_of_name(&name))?;
        }
        Ok(())
    }
}

/// A keyed limiter with a cap on the keys it remembers.
struct Limiter {
    limiter: DefaultKeyedRateLimiter<u64>,
    clock: DefaultClock,
    max_keys: usize,
    hasher: std::hash::RandomState,
    /// Milliseconds since `started` of the last sweep forced by a full limiter.
    last_full_sweep: AtomicU64,
    started: std::time::Instant,
}

impl Limiter {
    fn new(rate: Rate, max_keys: usize, hasher: std::hash::RandomState) -> Self {
        let per_minute = NonZeroU32::new(rate.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        let clock = DefaultClock::default();
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            max_keys,
            hasher,
            last_full_sweep: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }

    /// IPv6 clients are keyed by their /64 network: one host usually holds a whole /64,
    /// and keying single addresses would give it 2^64 buckets.
    fn key_of_address(&self, address: IpAddr) -> u64 {
        match address.to_canonical() {
            IpAddr::V4(v4) => self.hasher.hash_one((4u8, v4.octets())),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) >> 64;
                self.hasher.hash_one((6u8, network))
            }
        }
    }

    fn key_of_name(&self, name: &str) -> u64 {
        self.hasher.hash_one((0u8, name))
    }

    fn check(&self, key: u64) -> Result<()> {
        let key = if self.limiter.len() >= self.max_keys && !self.sweep_when_full() {
            OVERFLOW_KEY
        } else {
            key
        };
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Whole seconds, rounded up: a client that waits them is let through.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Error::RateLimited {
                retry_after: seconds.max(1),
            }
        })
    }

    /// Sweeps a full limiter (at most once per [`FULL_SWEEP_SPACING`]); true when that
    /// made room.
    fn sweep_when_full(&self) -> bool {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_full_sweep.load(Ordering::Relaxed);
        let spacing = u64::try_from(FULL_SWEEP_SPACING.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) >= spacing
            && self
                .last_full_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
        }
        self.limiter.len() < self.max_keys
    }

    fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Drops idle keys every [`SWEEP_EVERY`] while the throttles exist.
async fn sweep(inner: Weak<Inner>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        for throttle in [
            &inner.login,
            &inner.register,
            &inner.refresh,
            &inner.email_check,
            &inner.admin,
        ] {
            throttle.address.sweep();
            if let Some(name) = &throttle.name {
                name.sweep();
            }
        }
    }
}

/// The client behind `peer`: the peer itself unless it is a trusted proxy; then, walking
/// `X-Forwarded-For` from the right (the entry the nearest proxy added), the first address
/// that is not a trusted proxy. Entries to the left of it were written by the client and
/// are never believed. If every entry is trusted, the left-most is the client; an entry
/// that is not an address ends the walk at the last address read.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(address) = forwarded_address(entry) else {
            break;
        };
        client = address;
        if !is_trusted(&address) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::net::Ipv6Addr;

    /// `::`, an address no other test uses.
    const ANY: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| s.parse().expect("a CIDR block"))
            .collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_address(ip("198.51.100.1"), &headers, &nets(&["10.0.0.0/8"])),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(ip("198.51.100.1"), &headers, &[]),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_peer_forwards_the_right_most_untrusted_address() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let peer = ip("10.1.2.3");
        // The client wrote "1.1.1.1"; the first proxy appended the real peer, the second
        // proxy (trusted) appended the first.
        let headers = forwarded(&["1.1.1.1, 203.0.113.7", "10.9.9.9"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("203.0.113.7"));
        // Ports and brackets are read; IPv4-mapped IPv6 is IPv4.
        let headers = forwarded(&["[2001:db8::1]:4711"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("2001:db8::1"));
        let headers = forwarded(&["203.0.113.8:80"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("203.0.113.8"));
        let headers = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("203.0.113.9"));
        // No header: the proxy itself.
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        // Every entry trusted: the left-most.
        let headers = forwarded(&["127.0.0.1, 10.0.0.2"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("127.0.0.1"));
        // Garbage ends the walk at the last address read.
        let headers = forwarded(&["203.0.113.1, unknown, 10.0.0.2"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("10.0.0.2"));
    }

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate { per_minute, burst }
    }

    #[tokio::test]
    async fn names_and_addresses_have_buckets_of_their_own() {
        let config = ThrottleConfig {
            login: NamedThrottle {
                address: rate(1, 3),
                name: rate(1, 2),
            },
            ..ThrottleConfig::default()
        };
        let throttles = Throttles::new(&config, &[]);
        let login = throttles.login();
        let a = ClientAddr(ip("203.0.113.1"));
        let b = ClientAddr(ip("203.0.113.2"));
        assert!(login.check(a, Some("alice")).is_ok());
        assert!(login.check(b, Some("ALICE ")).is_ok());
        // The name's bucket is empty, whatever the address.
        let refused = login.check(ClientAddr(ip("203.0.113.3")), Some("alice"));
        assert!(matches!(refused, Err(Error::RateLimited { retry_after }) if retry_after >= 1));
        // Address a has had one of its three.
        assert!(login.check(a, Some("bob")).is_ok());
        assert!(login.check(a, Some("carol")).is_ok());
        assert!(matches!(
            login.check(a, Some("dave")),
            Err(Error::RateLimited { .. })
        ));
        // One IPv6 /64 is one client.
        let v6 = |s: &str| ClientAddr(ip(s));
        for n in 1..=3 {
            assert!(login.check(v6(&format!("2001:db8::{n}")), None).is_ok());
        }
        assert!(login.check(v6("2001:db8::ffff"), None).is_err());
        assert!(login.check(v6("2001:db8:0:1::1"), None).is_ok());
        assert!(login.check(ClientAddr(ANY), None).is_ok());
    }

    #[tokio::test]
    async fn a_flood_of_distinct_keys_stays_within_max_keys() {
        let config = ThrottleConfig {
            max_keys: 64,
            register: NamedThrottle {
                address: rate(1_000_000, 1_000_000),
                name: rate(1, 1),
            },
            ..ThrottleConfig::default()
        };
        let throttles = Throttles::new(&config, &[]);
        let register = throttles.register();
        let client = ClientAddr(ip("203.0.113.1"));
        let mut refused = 0;
        for i in 0..10_000 {
            if register.check(client, Some(&format!("name{i}"))).is_err() {
                refused += 1;
            }
        }
        let names = register.name.as_ref().expect("a name limiter");
        // A few over the cap at most (the overflow key), never the flood.
        assert!(names.len() <= 64 + 1, "{} keys", names.len());
        // Past the cap the names share one bucket: all but the first of them are refused.
        assert!(refused >= 10_000 - 64 - 1, "{refused} refused");
    }
}
