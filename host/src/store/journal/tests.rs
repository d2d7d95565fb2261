//! The message log against a real SQLite file: the store contract, replay after a crash,
//! a torn tail, segments, and the folder lock.

use std::sync::Arc;

use super::*;
use crate::config::DatabaseConfig;

/// Where a new segment's records start.
const START: u64 = segment::MAGIC.len() as u64;

async fn sql(dir: &Path) -> Arc<SqlStore> {
    let sql = SqlStore::connect(&DatabaseConfig::default(), dir)
        .await
        .expect("connect");
    sql.migrate().await.expect("migrate");
    Arc::new(sql)
}

fn draft(sender: i64, text: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        conversation: Conversation::direct(sender, 2),
        sender,
        recipient: Some(2),
        content: text.to_owned(),
        client_id: client_id.map(str::to_owned),
        sent_at: 1_700_000_000_000,
        reply_to: None,
    }
}

fn texts(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

/// Every message of conversation (1, 2) in SQLite itself, oldest first.
async fn in_sqlite(sql: &SqlStore) -> Vec<Message> {
    sql.after(&Conversation::direct(1, 2), 0, 0, 10_000)
        .await
        .expect("history")
}

#[tokio::test]
async fn passes_the_message_store_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    let log = LoggedMessages::open(sql.clone(), &dir.path().join("log"), LogLimits::default())
        .await
        .expect("open");
    crate::store::message_conformance::run(&log).await;
    // Changes go to SQLite once the log has settled.
    crate::store::change_conformance::run(&log, &*sql).await;
}

#[tokio::test]
async fn what_the_log_acknowledged_is_in_sqlite_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    // A run that acknowledged three messages and stopped before SQLite had them: the log
    // holds them, SQLite does not.
    std::fs::create_dir_all(&log_dir).expect("mkdir");
    let file = segment::create(&log_dir, 1).expect("segment");
    let mut records = Vec::new();
    for (id, text) in [(1, "one"), (2, "two"), (3, "three")] {
        let message = draft(1, text, Some(&format!("c{id}"))).stored_as(id);
        segment::encode(&message, &mut records).expect("encode");
    }
    segment::append(&file, START, START, &records).expect("append");
    drop(file);
    assert!(in_sqlite(&sql).await.is_empty());

    let log = LoggedMessages::open(sql.clone(), &log_dir, LogLimits::default())
        .await
        .expect("open");
    assert_eq!(texts(&in_sqlite(&sql).await), ["one", "two", "three"]);
    // Ids go on after the replayed ones, and a resend of a replayed one is a duplicate.
    let next = log.append(draft(1, "four", None)).await.expect("append");
    assert_eq!(next.message.id, 4);
    let again = log
        .append(draft(1, "two again", Some("c2")))
        .await
        .expect("resend");
    assert!(again.duplicate);
    assert_eq!(again.message.id, 2);
    assert_eq!(again.message.content, "two");
    // Opening again replays nothing twice.
    drop(log);
    let log = reopen(&sql, &log_dir).await;
    let all = log
        .after(&Conversation::direct(1, 2), 0, 0, 100)
        .await
        .expect("history");
    assert_eq!(texts(&all), ["one", "two", "three", "four"]);
}

/// Opens the log again once the previous store's lock is gone.
async fn reopen(sql: &Arc<SqlStore>, dir: &Path) -> LoggedMessages {
    for _ in 0..200 {
        match LoggedMessages::open(sql.clone(), dir, LogLimits::default()).await {
            Ok(log) => return log,
            Err(err) if err.to_string().contains("in use") => {
                // The dropped store's lock goes with its last reference, held a moment
                // longer by its apply task.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => panic!("reopening the log: {err:#}"),
        }
    }
    panic!("the log stayed locked");
}

#[tokio::test]
async fn a_record_cut_short_is_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    std::fs::create_dir_all(&log_dir).expect("mkdir");
    let file = segment::create(&log_dir, 1).expect("segment");
    let mut records = Vec::new();
    for (id, text) in [(1, "kept"), (2, "cut")] {
        segment::encode(&draft(1, text, None).stored_as(id), &mut records).expect("encode");
    }
    let torn = records.len() - 5;
    segment::append(&file, START, START, &records[..torn]).expect("append");
    drop(file);

    let log = LoggedMessages::open(sql.clone(), &log_dir, LogLimits::default())
        .await
        .expect("open");
    assert_eq!(texts(&in_sqlite(&sql).await), ["kept"]);
    let next = log.append(draft(1, "next", None)).await.expect("append");
    assert_eq!(next.message.id, 2, "the cut record was never acknowledged");
}

#[tokio::test]
async fn damage_before_the_newest_segment_stops_the_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    std::fs::create_dir_all(&log_dir).expect("mkdir");
    let old = segment::create(&log_dir, 1).expect("segment");
    let mut records = Vec::new();
    segment::encode(&draft(1, "one", None).stored_as(1), &mut records).expect("encode");
    segment::append(&old, START, START, &records[..records.len() - 1]).expect("append");
    segment::create(&log_dir, 2).expect("a newer segment");
    let err = LoggedMessages::open(sql, &log_dir, LogLimits::default())
        .await
        .expect_err("damaged");
    assert!(err.to_string().contains("damaged"), "{err:#}");
}

#[tokio::test]
async fn duplicates_are_found_before_and_after_sqlite_has_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    let log = LoggedMessages::open(sql.clone(), &dir.path().join("log"), LogLimits::default())
        .await
        .expect("open");
    let batch = vec![
        draft(1, "a", Some("x")),
        draft(1, "b", Some("x")),
        draft(3, "c", Some("x")),
        draft(1, "d", None),
    ];
    let appended = log.append_batch(batch).await.expect("batch");
    let flags: Vec<bool> = appended.iter().map(|a| a.duplicate).collect();
    assert_eq!(flags, [false, true, false, false]);
    assert_eq!(appended[1].message.id, appended[0].message.id);
    assert_eq!(appended[1].message.content, "a");
    // Once SQLite has it (a read waits for that), a resend is still found.
    log.before(&Conversation::direct(1, 2), i64::MAX, 0, 1)
        .await
        .expect("read");
    let again = log.append(draft(1, "e", Some("x"))).await.expect("resend");
    assert!(again.duplicate);
    assert_eq!(again.message.id, appended[0].message.id);
}

#[tokio::test]
async fn small_segments_roll_over_and_go_once_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    let limits = LogLimits {
        segment_bytes: 512,
        ..LogLimits::default()
    };
    let log = LoggedMessages::open(sql.clone(), &log_dir, limits)
        .await
        .expect("open");
    for i in 0..60 {
        log.append(draft(1, &format!("m{i}"), Some(&format!("c{i}"))))
            .await
            .expect("append");
    }
    let all = log
        .after(&Conversation::direct(1, 2), 0, 0, 100)
        .await
        .expect("history");
    assert_eq!(all.len(), 60);
    let ids: Vec<i64> = all.iter().map(|m| m.id).collect();
    assert_eq!(ids, (1..=60).collect::<Vec<_>>());
    // Every closed segment SQLite holds all of is deleted: what is left is the tail.
    let left = segment::list(&log_dir).expect("list").len();
    assert!(left <= 2, "{left} segments left");
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    let _log = LoggedMessages::open(sql.clone(), &log_dir, LogLimits::default())
        .await
        .expect("open");
    let err = LoggedMessages::open(sql, &log_dir, LogLimits::default())
        .await
        .expect_err("locked");
    assert!(err.to_string().contains("in use"), "{err:#}");
}

#[tokio::test]
async fn a_full_queue_makes_appends_wait_for_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    let limits = LogLimits {
        pending_messages: 2,
        apply_batch: 1,
        ..LogLimits::default()
    };
    let log = LoggedMessages::open(sql.clone(), &dir.path().join("log"), limits)
        .await
        .expect("open");
    for i in 0..20 {
        log.append(draft(1, &format!("m{i}"), None))
            .await
            .expect("append");
        assert!(log.shared.pending().messages.len() <= 2);
    }
    assert_eq!(in_sqlite_after_catch_up(&log).await, 20);
}

async fn in_sqlite_after_catch_up(log: &LoggedMessages) -> usize {
    log.caught_up().await.expect("caught up");
    in_sqlite(&log.shared.sql).await.len()
}

#[tokio::test]
async fn turned_off_the_log_is_still_written_to_sqlite_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    assert_eq!(
        replay_if_present(&sql, &log_dir).await.expect("no log"),
        0,
        "no folder, nothing to do"
    );
    std::fs::create_dir_all(&log_dir).expect("mkdir");
    let file = segment::create(&log_dir, 1).expect("segment");
    let mut records = Vec::new();
    segment::encode(&draft(1, "left behind", None).stored_as(1), &mut records).expect("encode");
    segment::append(&file, START, START, &records).expect("append");
    assert_eq!(replay_if_present(&sql, &log_dir).await.expect("replay"), 1);
    assert_eq!(texts(&in_sqlite(&sql).await), ["left behind"]);
    assert!(segment::list(&log_dir).expect("list").is_empty());
    assert_eq!(replay_if_present(&sql, &log_dir).await.expect("again"), 0);
}

#[tokio::test]
async fn several_segments_not_yet_in_sqlite_are_replayed_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    // SQLite is never written while this store is open: everything stays in the log.
    let limits = LogLimits {
        segment_bytes: 600,
        apply_delay: Duration::from_secs(3600),
        ..LogLimits::default()
    };
    let log = LoggedMessages::open(sql.clone(), &log_dir, limits)
        .await
        .expect("open");
    for i in 0..40 {
        log.append(draft(1, &format!("m{i}"), Some(&format!("c{i}"))))
            .await
            .expect("append");
    }
    let segments = segment::list(&log_dir).expect("list");
    assert!(segments.len() > 3, "{} segments", segments.len());
    assert!(in_sqlite(&sql).await.is_empty(), "nothing applied yet");
    // A stop without writing SQLite, as a crash leaves it.
    drop(log);
    let log = reopen(&sql, &log_dir).await;
    let texts_now: Vec<String> = in_sqlite(&sql)
        .await
        .into_iter()
        .map(|m| m.content)
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    assert_eq!(texts_now, expected);
    let next = log.append(draft(1, "after", None)).await.expect("append");
    assert_eq!(next.message.id, 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_given_up_by_their_caller_still_leave_one_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_dir = dir.path().join("log");
    let sql = sql(dir.path()).await;
    let limits = LogLimits {
        segment_bytes: 700,
        ..LogLimits::default()
    };
    let log = LoggedMessages::open(sql.clone(), &log_dir, limits)
        .await
        .expect("open");
    // Every other append is abandoned after a different short while (so at different
    // points: looking up client ids, writing, syncing, rotating), as the writer abandons a
    // batch past its deadline; some are stored anyway, none may disturb the others.
    let mut kept = Vec::new();
    for i in 0..120_u64 {
        let message = draft(1, &format!("m{i}"), Some(&format!("c{i}")));
        if i % 2 == 0 {
            let after = Duration::from_micros(i * 53 % 1500);
            let _ = tokio::time::timeout(after, log.append(message)).await;
        } else {
            kept.push(log.append(message).await.expect("append").message.id);
        }
    }
    let check = |history: Vec<Message>| {
        let ids: Vec<i64> = history.iter().map(|m| m.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        for id in &kept {
            assert!(
                ids.contains(id),
                "acknowledged {id} is missing from {ids:?}"
            );
        }
        let mut texts: Vec<&str> = history.iter().map(|m| m.content.as_str()).collect();
        let all = texts.len();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), all, "a message stored twice");
    };
    check(
        log.after(&Conversation::direct(1, 2), 0, 0, 1000)
            .await
            .expect("history"),
    );
    drop(log);
    let log = reopen(&sql, &log_dir).await;
    check(
        log.after(&Conversation::direct(1, 2), 0, 0, 1000)
            .await
            .expect("history after a restart"),
    );
}

/// Messages as the log hands them to SQLite: ids given, conversation (1, 2).
fn logged(first_id: i64, client_ids: &[&str]) -> Vec<Message> {
    client_ids
        .iter()
        .enumerate()
        .map(|(i, client_id)| draft(1, client_id, Some(client_id)).stored_as(first_id + i as i64))
        .collect()
}

#[tokio::test]
async fn writing_a_batch_sqlite_already_holds_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    // More than one insert statement's worth, so the batch spans several statements.
    let ids: Vec<String> = (0..150).map(|n| format!("c{n}")).collect();
    let batch = logged(1, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    sql.insert_stored(&batch).await.expect("first write");
    // A replay, or a transaction retried after it committed: the same rows again.
    sql.insert_stored(&batch)
        .await
        .expect("the same batch again");
    let stored = in_sqlite(&sql).await;
    assert_eq!(stored.len(), 150);
    assert_eq!(stored.first().map(|m| m.id), Some(1));
    assert_eq!(stored.last().map(|m| m.id), Some(150));
}

#[tokio::test]
async fn a_batch_sqlite_refuses_a_row_of_is_rolled_back_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    sql.insert_stored(&logged(1, &["a"])).await.expect("first");
    // Message 3 reuses the client id of message 1 under another id: SQLite cannot hold
    // it, and nothing of its batch may be kept without it.
    let err = sql
        .insert_stored(&logged(2, &["b", "a", "c"]))
        .await
        .expect_err("a client id stored under another id");
    assert!(err.to_string().contains("ids [3]"), "{err}");
    assert_eq!(texts(&in_sqlite(&sql).await), ["a"]);
}

/// Waits until the client-id filter holds every pair SQLite holds.
async fn filter_ready(log: &LoggedMessages) {
    for _ in 0..500 {
        if log.shared.pending().client_ids.state() == client_ids::State::Ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the client-id filter was never built");
}

fn looked_up(log: &LoggedMessages) -> u64 {
    log.shared.looked_up.load(Ordering::Relaxed)
}

#[tokio::test]
async fn a_resend_of_a_message_stored_before_the_log_opened_is_found_without_asking_for_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    sql.insert_stored(&logged(1, &["old"]))
        .await
        .expect("stored earlier");
    let log = LoggedMessages::open(sql.clone(), &dir.path().join("log"), LogLimits::default())
        .await
        .expect("open");
    filter_ready(&log).await;

    let again = log
        .append(draft(1, "old", Some("old")))
        .await
        .expect("resend");
    assert!(again.duplicate);
    assert_eq!(again.message.id, 1);

    // New client ids are given their ids without a look-up in SQLite (bar the odd false
    // positive of the filter).
    let before = looked_up(&log);
    let fresh: Vec<NewMessage> = (0..100)
        .map(|n| draft(1, &format!("new {n}"), Some(&format!("new-{n}"))))
        .collect();
    let stored = log.append_batch(fresh).await.expect("new messages");
    assert!(stored.iter().all(|a| !a.duplicate));
    assert_eq!(stored.last().map(|a| a.message.id), Some(101));
    assert!(
        looked_up(&log) - before <= 5,
        "{} looked up",
        looked_up(&log) - before
    );

    // Once SQLite has them, their resends are still found.
    log.settle().await.expect("settle");
    let resend = log
        .append(draft(1, "new 7", Some("new-7")))
        .await
        .expect("resend");
    assert!(resend.duplicate);
    assert_eq!(resend.message.id, 9);
}

#[tokio::test]
async fn a_full_client_id_filter_is_replaced_by_a_larger_one_and_misses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = sql(dir.path()).await;
    let limits = LogLimits {
        client_id_filter: 50,
        ..LogLimits::default()
    };
    let log = LoggedMessages::open(sql.clone(), &dir.path().join("log"), limits)
        .await
        .expect("open");
    filter_ready(&log).await;
    let generation = log.shared.pending().client_ids.generation();
    for round in 0..4 {
        let batch: Vec<NewMessage> = (0..40)
            .map(|n| draft(1, "text", Some(&format!("r{round}-{n}"))))
            .collect();
        log.append_batch(batch).await.expect("append");
        log.settle().await.expect("settle");
    }
    // 160 client ids went through filters made for 50 and more.
    assert!(log.shared.pending().client_ids.generation() > generation);
    filter_ready(&log).await;
    // Every one of them, in SQLite by now, is still a resend.
    let resends: Vec<NewMessage> = (0..4)
        .flat_map(|round| (0..40).map(move |n| (round, n)))
        .map(|(round, n)| draft(1, "text", Some(&format!("r{round}-{n}"))))
        .collect();
    let answers = log.append_batch(resends).await.expect("resends");
    assert!(answers.iter().all(|a| a.duplicate));
    let ids: Vec<i64> = answers.iter().map(|a| a.message.id).collect();
    assert_eq!(ids, (1..=160).collect::<Vec<_>>());
}
