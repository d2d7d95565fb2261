//! The hooks snapshot: every chain plugins take part in (message filters, joins, owner
//! hand-offs, uploads), built together and swapped as one.
//!
//! The registry builds a whole new [`Hooks`] whenever plugins change and puts it in the
//! one [`SharedHooks`] handle. The chat service, the group policy and the upload service
//! each hold a clone of that handle and take the current snapshot once per message, join,
//! hand-off or upload, so a decision runs on one version of the chains from start to end,
//! and the four chains always belong to the same version.

use std::sync::{Arc, PoisonError, RwLock};

use super::chain::{self, Runner, UploadDecision, UploadInfo};
use crate::messages::filter::FilterChain;

/// One version of every chain. Never changed in place: a change is a new snapshot.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    filters: FilterChain,
    join: Vec<Arc<Runner>>,
    owner_leave: Vec<Arc<Runner>>,
    uploads: Vec<Arc<Runner>>,
}

impl Hooks {
    /// A snapshot of these chains, each already in its running order.
    pub fn new(
        filters: FilterChain,
        join: Vec<Arc<Runner>>,
        owner_leave: Vec<Arc<Runner>>,
        uploads: Vec<Arc<Runner>>,
    ) -> Self {
        Self {
            filters,
            join,
            owner_leave,
            uploads,
        }
    }

    /// The message filters.
    pub fn filters(&self) -> &FilterChain {
        &self.filters
    }

    /// The `on-join` runners.
    pub fn join(&self) -> &[Arc<Runner>] {
        &self.join
    }

    /// The `on-owner-leave` runners.
    pub fn owner_leave(&self) -> &[Arc<Runner>] {
        &self.owner_leave
    }

    /// Runs the upload chain of this snapshot.
    pub async fn check_upload(&self, info: &UploadInfo, head: &[u8]) -> UploadDecision {
        chain::check_upload(&self.uploads, info, head).await
    }

    /// This snapshot with another filter chain, the other chains shared with it.
    fn with_filters(&self, filters: FilterChain) -> Self {
        Self {
            filters,
            join: self.join.clone(),
            owner_leave: self.owner_leave.clone(),
            uploads: self.uploads.clone(),
        }
    }
}

/// The one handle to the current [`Hooks`]; cheap to clone, and every clone sees the same
/// snapshot. It starts empty, which is the host's built-in behaviour everywhere.
#[derive(Clone, Default)]
pub struct SharedHooks {
    current: Arc<RwLock<Arc<Hooks>>>,
}

impl std::fmt::Debug for SharedHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedHooks").field(&self.load()).finish()
    }
}

impl SharedHooks {
    /// The current snapshot. Whoever holds it keeps its chains whatever is swapped in
    /// meanwhile, so a decision takes it once and uses it to the end.
    pub fn load(&self) -> Arc<Hooks> {
        // The lock only guards the swap of one `Arc`; a panic cannot leave it half-done.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new snapshot in place; decisions under way finish with the old one.
    pub fn swap(&self, hooks: Hooks) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(hooks);
    }

    /// Replaces only the filter chain, in one swap with the other chains carried over
    /// (for a host that sets its own filters, as the tests do).
    pub fn set_filters(&self, filters: FilterChain) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(current.with_filters(filters));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::config::PluginsConfig;
    use crate::messages::filter::{Draft, MessageFilter, Verdict};
    use crate::messages::Conversation;
    use crate::plugins::chain::{Health, Quarantine};
    use crate::plugins::kv::MemoryKv;
    use crate::plugins::manifest::{Failure, Hook, Manifest};
    use crate::plugins::runtime::{Loaded, PluginShared, Runtime};
    use crate::plugins::stats::{Counters, VerdictLog};

    /// A filter that stamps every message with its version's tag.
    struct Stamp(&'static str);

    #[async_trait]
    impl MessageFilter for Stamp {
        fn name(&self) -> &str {
            self.0
        }
        async fn filter(&self, _: &Draft) -> Verdict {
            Verdict::Rewrite(self.0.to_owned())
        }
    }

    /// One compiled plugin behind every runner: these tests never call it, they tell
    /// the chains apart by their runners' names.
    async fn compiled() -> Arc<Loaded> {
        let bundled = crate::plugins::bundled::BUNDLED
            .iter()
            .find(|p| p.name == "word-filter")
            .expect("the word filter is bundled");
        let manifest = Manifest::parse(bundled.manifest).expect("its manifest parses");
        let settings = PluginsConfig::default();
        let runtime = Runtime::new(&settings, None).expect("engine");
        let shared = PluginShared::new(
            "word-filter",
            manifest.config_json(),
            Arc::new(MemoryKv::default()),
        );
        let limits = manifest.limits(&settings).expect("limits");
        let loaded = runtime
            .load(Arc::new(bundled.wasm.to_vec()), limits, shared)
            .await
            .expect("the bundled word filter loads");
        Arc::new(loaded)
    }

    fn runner(name: String, hook: Hook, loaded: &Arc<Loaded>) -> Arc<Runner> {
        Arc::new(Runner {
            name,
            order: 0,
            hooks: vec![hook],
            failure: Failure::Open,
            loaded: loaded.clone(),
            counters: Arc::new(Counters::default()),
            health: Arc::new(Health::default()),
            verdicts: Arc::new(VerdictLog::new(10)),
            quarantine: Quarantine {
                after: 5,
                duration: Duration::from_secs(30),
            },
        })
    }

    /// Every chain of version `tag`: one runner per chain, named after the version.
    fn version(tag: &'static str, loaded: &Arc<Loaded>) -> Hooks {
        Hooks::new(
            FilterChain::new(vec![Arc::new(Stamp(tag))]),
            vec![runner(format!("{tag}-join"), Hook::OnJoin, loaded)],
            vec![runner(
                format!("{tag}-owner-leave"),
                Hook::OnOwnerLeave,
                loaded,
            )],
            vec![runner(format!("{tag}-upload"), Hook::OnUpload, loaded)],
        )
    }

    fn names(chain: &[Arc<Runner>]) -> Vec<&str> {
        chain.iter().map(|r| r.name.as_str()).collect()
    }

    /// The version each of the four chains of `hooks` belongs to.
    async fn versions(hooks: &Hooks) -> [String; 4] {
        let draft = Draft {
            sender: 1,
            conversation: Conversation::direct(1, 2),
            content: "hello".to_owned(),
            sent_at: 0,
            kind: crate::messages::filter::DraftKind::Send,
            relations: None,
        };
        let filtered = hooks
            .filters()
            .run(draft)
            .await
            .expect("a stamp never rejects");
        let tag = |chain: &[Arc<Runner>], suffix: &str| {
            let names = names(chain);
            assert_eq!(names.len(), 1, "{names:?}");
            names[0]
                .strip_suffix(suffix)
                .expect("named after its version")
                .to_owned()
        };
        [
            filtered,
            tag(hooks.join(), "-join"),
            tag(hooks.owner_leave(), "-owner-leave"),
            tag(&hooks.uploads, "-upload"),
        ]
    }

    #[tokio::test]
    async fn a_snapshot_taken_before_a_swap_keeps_the_old_chains() {
        let loaded = compiled().await;
        let shared = SharedHooks::default();
        shared.swap(version("v1", &loaded));
        // A message, join or upload takes its snapshot here, and plugins change under it.
        let held = shared.load();
        shared.swap(version("v2", &loaded));
        assert_eq!(versions(&held).await, ["v1", "v1", "v1", "v1"]);
        assert_eq!(versions(&shared.load()).await, ["v2", "v2", "v2", "v2"]);
        // Every clone of the handle is the same handle.
        let clone = shared.clone();
        shared.swap(version("v3", &loaded));
        assert_eq!(versions(&clone.load()).await, ["v3", "v3", "v3", "v3"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_swap_changes_all_four_chains_and_no_reader_sees_a_mix() {
        let loaded = compiled().await;
        let shared = SharedHooks::default();
        let empty = shared.load();
        assert!(empty.join().is_empty() && empty.owner_leave().is_empty());
        assert!(empty.uploads.is_empty());
        shared.swap(version("v1", &loaded));
        let before = shared.load();
        shared.swap(version("v2", &loaded));
        let after = shared.load();
        assert_eq!(versions(&before).await, ["v1", "v1", "v1", "v1"]);
        assert_eq!(versions(&after).await, ["v2", "v2", "v2", "v2"]);

        // Readers on other threads while versions are swapped in: each snapshot they take
        // is one version throughout.
        let (a, b) = (version("a", &loaded), version("b", &loaded));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        let hooks = shared.load();
                        let [first, rest @ ..] = versions(&hooks).await;
                        assert!(rest.iter().all(|v| *v == first), "{first} {rest:?}");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for i in 0..500 {
            let next = if i % 2 == 0 { &a } else { &b };
            shared.swap(next.clone());
            tokio::task::yield_now().await;
        }
        for reader in readers {
            tokio::time::timeout(Duration::from_secs(30), reader)
                .await
                .expect("the readers finish")
                .expect("no reader saw a mix");
        }
    }

    #[tokio::test]
    async fn setting_filters_keeps_the_other_chains() {
        let loaded = compiled().await;
        let shared = SharedHooks::default();
        shared.swap(version("v1", &loaded));
        let held = shared.load();
        shared.set_filters(FilterChain::new(vec![Arc::new(Stamp("v2"))]));
        assert_eq!(versions(&held).await, ["v1", "v1", "v1", "v1"]);
        assert_eq!(versions(&shared.load()).await, ["v2", "v1", "v1", "v1"]);
    }
}
