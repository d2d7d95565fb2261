//! Hook overhead per message: the bundled word filter judging a 200-byte message, through
//! a reused engine and a warm instance, alone and as the whole filter chain the chat
//! service runs (counters, latency histogram and verdict bookkeeping included).

use std::sync::Arc;

use confab::config::PluginsConfig;
use confab::messages::filter::{Draft, FilterChain, MessageFilter};
use confab::messages::Conversation;
use confab::plugins::chain::{FilterLimits, FilterRunner, Health, Quarantine, Runner};
use confab::plugins::kv::MemoryKv;
use confab::plugins::manifest::{Failure, Hook, Manifest};
use confab::plugins::runtime::{wit, PluginShared, Request, Runtime};
use confab::plugins::stats::{Counters, VerdictLog};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// 200 bytes of ordinary chat with one listed word in it.
fn message() -> String {
    let mut text = String::from("hey, did you see the match last night? ");
    text.push_str("that last goal was pure spam luck, but still a great finish. ");
    while text.len() < 200 {
        text.push_str("more words ");
    }
    text.truncate(200);
    text
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bundled = confab::plugins::bundled::BUNDLED
        .iter()
        .find(|p| p.name == "word-filter")
        .expect("the word filter is bundled");
    let manifest = Manifest::parse(bundled.manifest).expect("manifest");
    let settings = PluginsConfig::default();
    let runtime = Runtime::new(&settings, None).expect("engine");
    let shared = PluginShared::new(
        "word-filter",
        manifest.config_json(),
        Arc::new(MemoryKv::default()),
    );
    let limits = manifest.limits(&settings).expect("limits");
    let loaded = Arc::new(
        rt.block_on(runtime.load(Arc::new(bundled.wasm.to_vec()), limits, shared))
            .expect("loads"),
    );
    let text = message();
    let context = wit::FilterContext {
        kind: wit::DraftKind::Send,
        friends: false,
        sender_role: None,
    };
    let wit_message = wit::Message {
        sender: 1,
        conversation: wit::Conversation::Direct(2),
        content: text.clone(),
        sent_at: 0,
    };

    let mut group = c.benchmark_group("word-filter, 200-byte message");
    group.throughput(Throughput::Elements(1));
    group.bench_function("call into a warm instance", |b| {
        b.to_async(&rt).iter(|| {
            let loaded = loaded.clone();
            let message = wit_message.clone();
            async move {
                loaded
                    .call(Request::Filter(message, context))
                    .await
                    .expect("call")
            }
        })
    });

    let runner = Arc::new(Runner {
        name: "word-filter".to_owned(),
        order: 10,
        hooks: vec![Hook::FilterMessage],
        failure: Failure::Open,
        loaded: loaded.clone(),
        counters: Arc::new(Counters::default()),
        health: Arc::new(Health::default()),
        verdicts: Arc::new(VerdictLog::new(500)),
        quarantine: Quarantine {
            after: 5,
            duration: std::time::Duration::from_secs(30),
        },
    });
    let filter: Arc<dyn MessageFilter> = Arc::new(FilterRunner {
        runner,
        limits: FilterLimits { max_chars: 4000 },
    });
    let chain = FilterChain::new(vec![filter]);
    let draft = Draft {
        sender: 1,
        conversation: Conversation::direct(1, 2),
        content: text,
        sent_at: 0,
        kind: confab::messages::filter::DraftKind::Send,
        relations: None,
    };
    group.bench_function("whole filter chain", |b| {
        b.to_async(&rt).iter(|| {
            let chain = chain.clone();
            let draft = draft.clone();
            async move { chain.run(draft).await }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
