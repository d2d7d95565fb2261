//! The behaviour every plugin store must show; run on memory by the unit tests and on
//! Redis by the end-to-end tests.

use std::time::{Duration, Instant};

use super::{PluginKv, MAX_KEY_BYTES, MAX_VALUE_BYTES};

/// Runs every check against `kv`, using plugin names with `tag` in them so runs on a
/// shared Redis do not meet.
pub async fn run(kv: &dyn PluginKv, tag: &str) {
    let a = format!("a-{tag}");
    let b = format!("b-{tag}");
    assert_eq!(kv.get(&a, "k").await.expect("get"), None);
    kv.set(&a, "k", b"one".to_vec(), None).await.expect("set");
    assert_eq!(kv.get(&a, "k").await.expect("get"), Some(b"one".to_vec()));
    assert_eq!(
        kv.get(&b, "k").await.expect("get"),
        None,
        "plugins are apart"
    );

    assert_eq!(kv.incr(&a, "n", 2, None).await.expect("incr"), 2);
    assert_eq!(kv.incr(&a, "n", -5, None).await.expect("incr"), -3);
    assert_eq!(kv.get(&a, "n").await.expect("get"), Some(b"-3".to_vec()));
    assert!(kv.incr(&a, "k", 1, None).await.is_err(), "not a counter");

    assert!(kv.delete(&a, "n").await.expect("delete"));
    assert!(!kv.delete(&a, "n").await.expect("delete"));
    assert_eq!(kv.incr(&a, "n", 1, None).await.expect("incr"), 1);

    let short = Some(Duration::from_millis(150));
    assert_eq!(kv.incr(&a, "t", 1, short).await.expect("incr"), 1);
    // A later incr keeps the first expiry rather than extending it.
    assert_eq!(
        kv.incr(&a, "t", 1, Some(Duration::from_secs(60)))
            .await
            .expect("incr"),
        2
    );
    kv.set(&a, "s", b"x".to_vec(), short).await.expect("set");
    // `expire` gives a key an expiry, moves it or removes it, and says whether the key
    // was there.
    assert!(!kv.expire(&a, "missing", short).await.expect("expire"));
    kv.set(&a, "e", b"x".to_vec(), None).await.expect("set");
    assert!(kv.expire(&a, "e", short).await.expect("expire"));
    assert_eq!(kv.incr(&a, "kept", 1, short).await.expect("incr"), 1);
    assert!(kv
        .expire(&a, "kept", Some(Duration::from_secs(60)))
        .await
        .expect("expire"));
    kv.set(&a, "forever", b"x".to_vec(), short)
        .await
        .expect("set");
    assert!(kv.expire(&a, "forever", None).await.expect("expire"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = kv.get(&a, "t").await.expect("get");
        let s = kv.get(&a, "s").await.expect("get");
        let e = kv.get(&a, "e").await.expect("get");
        if t.is_none() && s.is_none() && e.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "keys with a ttl never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kv.get(&a, "kept").await.expect("get"), Some(b"1".to_vec()));
    assert_eq!(
        kv.get(&a, "forever").await.expect("get"),
        Some(b"x".to_vec())
    );
    assert!(!kv.expire(&a, "e", None).await.expect("expire"), "expired");
    assert_eq!(
        kv.incr(&a, "t", 1, None).await.expect("incr"),
        1,
        "expired counts as 0"
    );

    assert!(kv.get(&a, "").await.is_err());
    assert!(kv.get(&a, &"x".repeat(MAX_KEY_BYTES + 1)).await.is_err());
    let big = vec![0u8; MAX_VALUE_BYTES + 1];
    assert!(kv.set(&a, "big", big, None).await.is_err());
    for key in ["k", "n", "t", "kept", "forever"] {
        let _ = kv.delete(&a, key).await;
    }
}

/// Checks the bound of `kv`, which must hold at most `max` keys per plugin (at least
/// 3): a full store takes every new key, the least recently used ones make room and
/// are counted, and a key that expired goes before any live one.
pub async fn bounded(kv: &dyn PluginKv, max: usize, tag: &str) {
    assert!(max >= 3, "the check needs room for three keys");
    let p = format!("bounded-{tag}");
    let ttl = Some(Duration::from_millis(100));
    // The oldest key expires; the others do not.
    kv.set(&p, "k0", b"v".to_vec(), ttl).await.expect("set");
    for i in 1..max {
        kv.set(&p, &format!("k{i}"), b"v".to_vec(), None)
            .await
            .expect("set");
    }
    let before = kv.evictions(&p);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // k1 is used, so k2 is now the least recently used live key.
    assert!(kv.get(&p, "k1").await.expect("get").is_some());
    kv.set(&p, "new", b"v".to_vec(), None).await.expect("set");
    assert_eq!(kv.evictions(&p), before, "the expired key made room");
    for i in 1..max {
        assert!(
            kv.get(&p, &format!("k{i}")).await.expect("get").is_some(),
            "k{i} kept"
        );
    }
    // Full of live keys, and reading `new` leaves k1 the least recently used: the next
    // new key evicts it.
    assert!(kv.get(&p, "new").await.expect("get").is_some());
    assert_eq!(kv.incr(&p, "counter", 1, None).await.expect("incr"), 1);
    assert_eq!(kv.evictions(&p), before + 1);
    assert!(kv.get(&p, "k1").await.expect("get").is_none(), "k1 evicted");
    assert!(kv.get(&p, "counter").await.expect("get").is_some());
    // A flood of new keys never fails, and keeps the store at its bound.
    for i in 0..max * 3 {
        kv.incr(&p, &format!("flood{i}"), 1, None)
            .await
            .expect("a full store still takes new keys");
    }
    assert_eq!(kv.evictions(&p), before + 1 + (max * 3) as u64);
    let last = format!("flood{}", max * 3 - 1);
    assert_eq!(kv.get(&p, &last).await.expect("get"), Some(b"1".to_vec()));
    // Other plugins are untouched by this one's evictions.
    assert_eq!(kv.evictions(&format!("other-{tag}")), 0);
    for i in 0..max * 3 {
        let _ = kv.delete(&p, &format!("flood{i}")).await;
    }
    for key in ["new", "counter"] {
        let _ = kv.delete(&p, key).await;
    }
    for i in 0..max {
        let _ = kv.delete(&p, &format!("k{i}")).await;
    }
}
