//! One store's batch append: messages per second by batch size, on SQLite with the
//! default durability (WAL, `synchronous = FULL`: one fsync per commit), and on MySQL when
//! `CONFAB_TEST_MYSQL_URL` names a database this benchmark may write to.
//!
//! The curve explains group commit: a batch of one pays a whole transaction and fsync per
//! message; larger batches share them, until the per-row work dominates.

use std::sync::Arc;

use confab::config::DatabaseConfig;
use confab::messages::{Conversation, NewMessage};
use confab::store::{MessageStore, SqlStore};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 6] = [1, 4, 16, 64, 256, 1024];

/// New client ids every run, so a reused MySQL database stores rather than de-duplicates.
fn run_tag() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn batch(size: usize, round: &mut u64) -> Vec<NewMessage> {
    let tag = run_tag();
    (0..size)
        .map(|n| {
            *round += 1;
            let sender = 1 + (n as i64 % 50);
            NewMessage {
                conversation: Conversation::direct(sender, sender + 50),
                sender,
                recipient: Some(sender + 50),
                content: "x".repeat(100),
                client_id: Some(format!("bench-{tag}-{round}")),
                sent_at: 1_700_000_000_000,
                reply_to: None,
            }
        })
        .collect()
}

fn run(c: &mut Criterion, name: &str, store: Arc<dyn MessageStore>, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group(format!("append_batch/{name}"));
    group.sample_size(10);
    let mut round = 0u64;
    for size in SIZES {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter_batched(
                || batch(size, &mut round),
                |messages| rt.block_on(store.append_batch(messages)).expect("stored"),
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = rt
        .block_on(async {
            let store = SqlStore::connect(&DatabaseConfig::default(), dir.path()).await?;
            store.migrate().await?;
            anyhow::Ok(store)
        })
        .expect("SQLite");
    run(c, "sqlite", Arc::new(sqlite), &rt);

    match std::env::var("CONFAB_TEST_MYSQL_URL") {
        Ok(url) if !url.is_empty() => {
            let config = DatabaseConfig {
                url,
                ..DatabaseConfig::default()
            };
            let mysql = rt
                .block_on(async {
                    let store = SqlStore::connect(&config, dir.path()).await?;
                    store.migrate().await?;
                    anyhow::Ok(store)
                })
                .expect("MySQL");
            run(c, "mysql", Arc::new(mysql), &rt);
        }
        _ => println!("SKIPPED: append_batch/mysql (CONFAB_TEST_MYSQL_URL is not set)"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
