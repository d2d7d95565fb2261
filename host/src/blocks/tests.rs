//! The block and mute checks on two nodes that share a store and a bus, and what they ask
//! of the store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::bus::LocalBus;
use crate::config::DatabaseConfig;
use crate::groups::{HistoryVisibility, NewGroup};
use crate::store::{SqlStore, Stores};
use crate::users::NewUser;

/// The SQL store, counting the reads the message path makes.
struct Counting {
    inner: Arc<dyn BlockStore>,
    reads: AtomicUsize,
}

#[async_trait]
impl BlockStore for Counting {
    async fn block(&self, a: UserId, b: UserId, now: i64, limit: u32) -> Result<bool> {
        self.inner.block(a, b, now, limit).await
    }
    async fn unblock(&self, a: UserId, b: UserId) -> Result<bool> {
        self.inner.unblock(a, b).await
    }
    async fn blocked_ids(&self, blocker: UserId) -> Result<Vec<UserId>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.blocked_ids(blocker).await
    }
    async fn blocks(&self, blocker: UserId) -> Result<Vec<Block>> {
        self.inner.blocks(blocker).await
    }
    async fn mute(
        &self,
        group: GroupId,
        user: UserId,
        until: i64,
        by: UserId,
        now: i64,
        limit: u32,
    ) -> Result<bool> {
        self.inner.mute(group, user, until, by, now, limit).await
    }
    async fn unmute(&self, group: GroupId, user: UserId, now: i64) -> Result<bool> {
        self.inner.unmute(group, user, now).await
    }
    async fn set_mute_all(&self, group: GroupId, on: bool, by: UserId, now: i64) -> Result<()> {
        self.inner.set_mute_all(group, on, by, now).await
    }
    async fn group_mutes(&self, group: GroupId, now: i64) -> Result<GroupMutes> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.group_mutes(group, now).await
    }
    async fn mutes(&self, group: GroupId, now: i64) -> Result<Vec<Mute>> {
        self.inner.mutes(group, now).await
    }
}

struct Cluster {
    _dir: tempfile::TempDir,
    store: Arc<Counting>,
    a: BlockService,
    b: BlockService,
    b_facts: Arc<Facts>,
    users: Vec<Caller>,
    group: GroupId,
}

/// Two nodes on one store and one bus; users 0 (the group's owner), 1 and 2 (members).
async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql = SqlStore::connect(&DatabaseConfig::default(), dir.path())
        .await
        .expect("connect");
    sql.migrate().await.expect("migrate");
    let stores = Stores::from_sql(sql);
    let mut users = Vec::new();
    for name in ["owner", "first", "second"] {
        let new = NewUser {
            username: name.to_owned(),
            password_digest: "x".to_owned(),
            status: "active".to_owned(),
            now: 0,
        };
        let user = stores.users.create_user(new, None).await.expect("user");
        users.push(Caller { id: user.id });
    }
    let group = stores
        .groups
        .create_group(NewGroup {
            name: "g".to_owned(),
            owner: users[0].id,
            description: String::new(),
            size: 10,
            history: HistoryVisibility::All,
            now: 0,
        })
        .await
        .expect("group")
        .id;
    for user in &users[1..] {
        stores
            .groups
            .add_member(group, user.id, 0, 0)
            .await
            .expect("join");
    }
    let store = Arc::new(Counting {
        inner: stores.blocks.clone(),
        reads: AtomicUsize::new(0),
    });
    let bus: Arc<dyn Bus> = Arc::new(LocalBus::default());
    let node = |facts: &Arc<Facts>| {
        facts.watch(&bus);
        BlockService::new(
            store.clone(),
            stores.users.clone(),
            stores.groups.clone(),
            facts.clone(),
            bus.clone(),
        )
    };
    let b_facts = Arc::new(Facts::new(100));
    Cluster {
        a: node(&Arc::new(Facts::new(100))),
        b: node(&b_facts),
        _dir: dir,
        store,
        b_facts,
        users,
        group,
    }
}

/// Waits until `gone` holds, as it does once the bus has brought an event to node B.
async fn until(gone: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !gone() {
        assert!(tokio::time::Instant::now() < deadline, "never forgotten");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_block_on_one_node_refuses_the_next_message_on_another() {
    let c = cluster().await;
    let (alice, bob) = (c.users[1].id, c.users[2].id);
    c.b.check_pair(alice, bob).await.expect("no block yet");
    // Node B keeps what it read: a hundred messages ask the store nothing more.
    let reads = c.store.reads.load(Ordering::SeqCst);
    for _ in 0..100 {
        c.b.check_pair(alice, bob).await.expect("still no block");
    }
    assert_eq!(c.store.reads.load(Ordering::SeqCst), reads);

    c.a.block(c.users[2], alice)
        .await
        .expect("bob blocks alice");
    until(|| c.b_facts.blocks.get(&bob).is_none()).await;
    let refused = c.b.check_pair(alice, bob).await;
    assert!(
        matches!(refused, Err(Error::Blocked("this user has blocked you"))),
        "{refused:?}"
    );
    // The block runs both ways.
    assert!(matches!(
        c.b.check_pair(bob, alice).await,
        Err(Error::Blocked(_))
    ));

    c.a.unblock(c.users[2], alice).await.expect("unblock");
    until(|| c.b_facts.blocks.get(&bob).is_none()).await;
    c.b.check_pair(alice, bob).await.expect("unblocked");
}

#[tokio::test]
async fn a_mute_on_one_node_refuses_the_next_group_message_on_another() {
    let c = cluster().await;
    let (owner, member) = (c.users[0], c.users[1].id);
    let group = c.group;
    c.b.check_group(member, group).await.expect("not muted yet");
    let reads = c.store.reads.load(Ordering::SeqCst);
    for _ in 0..100 {
        c.b.check_group(member, group)
            .await
            .expect("still not muted");
    }
    assert_eq!(c.store.reads.load(Ordering::SeqCst), reads);

    let until_ms =
        c.a.mute(owner, group, member, MuteFor::Seconds(60))
            .await
            .expect("mute");
    until(|| c.b_facts.mutes.get(&group).is_none()).await;
    let refused = c.b.check_group(member, group).await;
    assert!(
        matches!(refused, Err(Error::Muted { until }) if until == until_ms),
        "{refused:?}"
    );
    c.a.unmute(owner, group, member).await.expect("unmute");
    until(|| c.b_facts.mutes.get(&group).is_none()).await;
    c.b.check_group(member, group).await.expect("unmuted");

    c.a.mute_all(owner, group, true).await.expect("mute all");
    until(|| c.b_facts.mutes.get(&group).is_none()).await;
    assert!(matches!(
        c.b.check_group(member, group).await,
        Err(Error::GroupMuted)
    ));
    c.b.check_group(owner.id, group)
        .await
        .expect("the owner still sends");
}
