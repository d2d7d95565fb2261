//! The conformance suite of [`PluginStore`]: every backend passes it (SQLite in the unit
//! tests, MySQL/MariaDB when `CONFAB_TEST_MYSQL_URL` is set).

use super::{NewRevision, NodeReport, PluginStore};
use crate::plugins::stats::{CounterSnapshot, VerdictRecord};
use crate::plugins::view::PluginState;

const HOUR: i64 = 3_600_000;

fn version<'a>(name: &'a str, manifest: &'a str, wasm: &'a [u8], sha: &'a str) -> NewRevision<'a> {
    NewRevision {
        name,
        manifest,
        sha256: sha,
        wasm: Some(wasm),
        removed: false,
        at: 1_000,
        by: "node-a",
    }
}

fn verdict(at: i64, plugin: &str) -> VerdictRecord {
    VerdictRecord {
        at,
        node: "node-é".to_owned(),
        plugin: plugin.to_owned(),
        hook: "filter-message".to_owned(),
        outcome: "rejected".to_owned(),
        user: 7,
        detail: "30013 nope".to_owned(),
        subject: format!("message {at} 你好"),
        request_id: None,
    }
}

/// Runs every check on an empty store.
pub async fn run(store: &dyn PluginStore) {
    revisions(store).await;
    components(store).await;
    reports(store).await;
    verdicts(store).await;
}

/// Revisions grow by one per change, a stale writer is turned away, removals keep a row.
pub async fn revisions(store: &dyn PluginStore) {
    assert!(store.plugins().await.expect("list").is_empty());
    assert_eq!(store.plugin("filter").await.expect("get"), None);
    let wasm = b"\0asm component one".to_vec();
    let first = version("filter", "name = \"filter\" # é\n", &wasm, "aa11");
    assert_eq!(store.publish(0, &first).await.expect("first"), Some(1));
    // Two nodes seeding the same plugin: the second finds it there.
    assert_eq!(store.publish(0, &first).await.expect("again"), None);
    let stored = store.plugin("filter").await.expect("get").expect("stored");
    assert_eq!(stored.revision, 1);
    assert_eq!(stored.manifest, "name = \"filter\" # é\n");
    assert_eq!(stored.sha256, "aa11");
    assert!(!stored.removed);
    assert_eq!(
        (stored.updated_at, stored.updated_by.as_str()),
        (1_000, "node-a")
    );

    // A manifest-only change needs no component.
    let config = NewRevision {
        wasm: None,
        manifest: "name = \"filter\"\nenabled = false\n",
        by: "node-b",
        ..first
    };
    assert_eq!(store.publish(1, &config).await.expect("second"), Some(2));
    assert_eq!(store.publish(1, &config).await.expect("stale"), None);
    let stored = store.plugin("filter").await.expect("get").expect("stored");
    assert_eq!((stored.revision, stored.updated_by.as_str()), (2, "node-b"));
    assert_eq!(stored.sha256, "aa11");

    // Removal is a revision too, and the plugin can come back after it.
    let removal = NewRevision::removal("filter", 2_000, "node-a");
    assert_eq!(store.publish(2, &removal).await.expect("removal"), Some(3));
    let gone = store.plugin("filter").await.expect("get").expect("a row");
    assert!(gone.removed);
    assert_eq!(gone.revision, 3);
    assert_eq!(store.publish(0, &first).await.expect("not new"), None);
    assert_eq!(store.publish(3, &first).await.expect("back"), Some(4));

    let other = version("other", "name = \"other\"\n", &wasm, "aa11");
    assert_eq!(store.publish(0, &other).await.expect("other"), Some(1));
    let all = store.plugins().await.expect("list");
    let mut names: Vec<(String, i64)> = all.iter().map(|p| (p.name.clone(), p.revision)).collect();
    names.sort();
    assert_eq!(names, [("filter".to_owned(), 4), ("other".to_owned(), 1)]);
}

/// Components are kept once per sha256 and forgotten once no live revision uses them
/// and they are old enough.
pub async fn components(store: &dyn PluginStore) {
    let old = b"\0asm old".to_vec();
    let new = b"\0asm new".to_vec();
    let first = version("swap", "name = \"swap\"\n", &old, "5ha-old");
    assert_eq!(
        store
            .publish(0, &NewRevision { at: 0, ..first })
            .await
            .expect("v1"),
        Some(1)
    );
    assert_eq!(
        store.component("5ha-old").await.expect("read"),
        Some(old.clone())
    );
    assert_eq!(store.component("5ha-none").await.expect("read"), None);
    let second = version("swap", "name = \"swap\"\n", &new, "5ha-new");
    let second = NewRevision {
        at: 2 * HOUR,
        ..second
    };
    assert_eq!(store.publish(1, &second).await.expect("v2"), Some(2));
    // Nothing live uses the old one, but it is kept a while for nodes catching up.
    assert_eq!(store.forget_components(0).await.expect("gc"), 0);
    assert!(store.forget_components(HOUR).await.expect("gc") >= 1);
    assert_eq!(store.component("5ha-old").await.expect("read"), None);
    assert_eq!(
        store.component("5ha-new").await.expect("read"),
        Some(new.clone())
    );
    // A live component is never forgotten, however old.
    assert_eq!(store.forget_components(10 * HOUR).await.expect("gc"), 0);
    assert!(store.component("5ha-new").await.expect("read").is_some());
    // Storing a component again refreshes it.
    let removal = NewRevision::removal("swap", 3 * HOUR, "node-a");
    assert_eq!(store.publish(2, &removal).await.expect("gone"), Some(3));
    let again = NewRevision {
        name: "swap-two",
        manifest: "name = \"swap-two\"\n",
        sha256: "5ha-new",
        wasm: Some(&new),
        removed: false,
        at: 5 * HOUR,
        by: "node-b",
    };
    assert_eq!(store.publish(0, &again).await.expect("reuse"), Some(1));
    assert_eq!(
        store
            .publish(1, &NewRevision::removal("swap-two", 5 * HOUR, "node-b"))
            .await
            .expect("gone"),
        Some(2)
    );
    assert_eq!(store.forget_components(4 * HOUR).await.expect("gc"), 0);
    assert!(store.forget_components(6 * HOUR).await.expect("gc") >= 1);
    assert_eq!(store.component("5ha-new").await.expect("read"), None);
}

fn report(node: &str, plugin: &str, revision: i64, at: i64) -> NodeReport {
    NodeReport {
        node: node.to_owned(),
        plugin: plugin.to_owned(),
        revision,
        state: PluginState::Running,
        error: None,
        counters: CounterSnapshot {
            calls: 10,
            rejects: 1,
            rewrites: 2,
            errors: 3,
            timeouts: 4,
            skipped: 5,
            kv_evictions: 6,
            latency: vec![1, 0, 9],
            latency_sum_us: 77,
        },
        seen_at: at,
    }
}

/// Each node's report replaces its last one; silent nodes are forgotten.
pub async fn reports(store: &dyn PluginStore) {
    assert!(store.reports().await.expect("none").is_empty());
    let failed = NodeReport {
        state: PluginState::Failed,
        error: Some("revision 2: not a WebAssembly file — ünïcode".to_owned()),
        ..report("node-a:8080", "b", 1, 1_000)
    };
    store
        .report(
            "node-a:8080",
            1_000,
            &[report("node-a:8080", "a", 3, 1_000), failed.clone()],
        )
        .await
        .expect("report a");
    store
        .report(
            "node-b:8080",
            1_500,
            &[report("node-b:8080", "a", 2, 1_500)],
        )
        .await
        .expect("report b");
    let mut all = store.reports().await.expect("all");
    all.sort_by(|x, y| (&x.node, &x.plugin).cmp(&(&y.node, &y.plugin)));
    assert_eq!(
        all,
        [
            report("node-a:8080", "a", 3, 1_000),
            failed,
            report("node-b:8080", "a", 2, 1_500)
        ]
    );
    // A report replaces the node's last one, plugins it no longer has included.
    store
        .report(
            "node-a:8080",
            2_000,
            &[report("node-a:8080", "a", 4, 2_000)],
        )
        .await
        .expect("again");
    let mut all = store.reports().await.expect("all");
    all.sort_by(|x, y| (&x.node, &x.plugin).cmp(&(&y.node, &y.plugin)));
    assert_eq!(
        all.iter()
            .map(|r| (r.node.as_str(), r.plugin.as_str(), r.revision))
            .collect::<Vec<_>>(),
        [("node-a:8080", "a", 4), ("node-b:8080", "a", 2)]
    );
    assert_eq!(store.forget_nodes(1_800).await.expect("forget"), 1);
    let all = store.reports().await.expect("all");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].node, "node-a:8080");
    store
        .report("node-a:8080", 3_000, &[])
        .await
        .expect("nothing left");
    assert!(store.reports().await.expect("none").is_empty());
}

/// The shared verdict log keeps the newest `keep`, newest first.
pub async fn verdicts(store: &dyn PluginStore) {
    assert!(store.verdicts(10, None).await.expect("none").is_empty());
    let batch: Vec<VerdictRecord> = (1..=5)
        .map(|at| verdict(at, if at % 2 == 0 { "even" } else { "odd" }))
        .collect();
    store.add_verdicts(&batch, 4).await.expect("add");
    let newest: Vec<i64> = store
        .verdicts(10, None)
        .await
        .expect("all")
        .iter()
        .map(|v| v.at)
        .collect();
    assert_eq!(newest, [5, 4, 3, 2]);
    let all = store.verdicts(10, None).await.expect("all");
    assert_eq!(all[0], batch[4]);
    assert_eq!(store.verdicts(2, None).await.expect("two").len(), 2);
    let odd: Vec<i64> = store
        .verdicts(10, Some("odd"))
        .await
        .expect("odd")
        .iter()
        .map(|v| v.at)
        .collect();
    assert_eq!(odd, [5, 3]);
    store
        .add_verdicts(&[verdict(6, "odd")], 4)
        .await
        .expect("one more");
    let newest: Vec<i64> = store
        .verdicts(10, None)
        .await
        .expect("all")
        .iter()
        .map(|v| v.at)
        .collect();
    assert_eq!(newest, [6, 5, 4, 3]);
    store.add_verdicts(&[], 4).await.expect("nothing to add");

    // Pages: the verdicts numbered below a cursor, newest first.
    let at = |page: &[(i64, VerdictRecord)]| page.iter().map(|(_, v)| v.at).collect::<Vec<_>>();
    let first = store.verdicts_before(None, 2, None).await.expect("page");
    assert_eq!(at(&first), [6, 5]);
    let rest = store
        .verdicts_before(Some(first[1].0), 10, None)
        .await
        .expect("rest");
    assert_eq!(at(&rest), [4, 3]);
    let odd = store
        .verdicts_before(Some(first[0].0), 10, Some("odd"))
        .await
        .expect("odd");
    assert_eq!(at(&odd), [5, 3]);
}
