//! Plugins in a chain: one plugin version taking part in a hook, with its failure policy,
//! counters and quarantine; and the adapters that plug chains into the host's seams
//! (a message filter, the group policy and the upload check). The chains themselves are
//! held by the hooks snapshot (`hooks.rs`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::hooks::SharedHooks;
use super::manifest::{Failure, Hook};
use super::runtime::{wit, CallError, Loaded, Request, Response};
use super::stats::{Counters, VerdictLog, VerdictRecord};
use crate::groups::{Group, GroupPolicy, JoinDecision, Member, OwnerHandoff, Role, SeedPolicy};
use crate::messages::filter::{Draft, DraftKind, MessageFilter, Verdict};
use crate::messages::Conversation;
use crate::users::UserId;

/// The code a message gets when a fail-closed plugin failed.
const FAILED_CLOSED_CODE: u32 = 30013;

/// Consecutive failures and quarantine of one plugin (kept across its versions' calls,
/// reset by a reload).
#[derive(Debug, Default)]
pub struct Health {
    failures: AtomicU32,
    /// Unix milliseconds until which the plugin is skipped; 0 when healthy.
    quarantined_until: AtomicU64,
}

impl Health {
    /// Whether calls are skipped now.
    pub fn quarantined(&self) -> bool {
        self.quarantined_until.load(Ordering::Relaxed) > now_ms()
    }

    /// Forgets past failures (a reload or an operator's enable).
    pub fn reset(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.quarantined_until.store(0, Ordering::Relaxed);
    }
}

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// Quarantine settings.
#[derive(Debug, Clone, Copy)]
pub struct Quarantine {
    /// Failures in a row that trigger it.
    pub after: u32,
    /// How long it lasts.
    pub duration: Duration,
}

/// One plugin version in the chains of its hooks.
pub struct Runner {
    /// Its name.
    pub name: String,
    /// Its place in the chains.
    pub order: i32,
    /// The hooks it takes part in (the manifest's).
    pub hooks: Vec<Hook>,
    /// What a failed call means.
    pub failure: Failure,
    /// The compiled plugin.
    pub loaded: Arc<Loaded>,
    /// Its counters.
    pub counters: Arc<Counters>,
    /// Its failure streak.
    pub health: Arc<Health>,
    /// Where verdicts are remembered.
    pub verdicts: Arc<VerdictLog>,
    /// Quarantine settings.
    pub quarantine: Quarantine,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("name", &self.name)
            .field("order", &self.order)
            .finish_non_exhaustive()
    }
}

/// What came of asking one plugin.
enum Outcome {
    /// It answered.
    Answer(Response),
    /// It failed or was skipped; its failure policy decides.
    Failed,
}

impl Runner {
    /// Calls the plugin, counting and timing it; failures feed the quarantine.
    async fn ask(&self, hook: Hook, request: Request, user: u64, subject: &str) -> Outcome {
        if self.health.quarantined() {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Outcome::Failed;
        }
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self.loaded.call(request).await;
        self.counters.observe(started.elapsed());
        match result {
            // The streak is cleared by `healthy` once the answer proved valid.
            Ok(response) => Outcome::Answer(response),
            Err(error) => {
                self.fail(hook, user, subject, &error);
                Outcome::Failed
            }
        }
    }

    /// Counts, logs and remembers a failure, and quarantines after too many in a row.
    fn fail(&self, hook: Hook, user: u64, subject: &str, error: &CallError) {
        match error {
            CallError::Timeout => self.counters.timeouts.fetch_add(1, Ordering::Relaxed),
            _ => self.counters.errors.fetch_add(1, Ordering::Relaxed),
        };
        let streak = self.health.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let policy = match self.failure {
            Failure::Open => "fail-open: skipped",
            Failure::Closed => "fail-closed: refused",
        };
        tracing::warn!(plugin = %self.name, %hook, %error, streak, "plugin call failed ({policy})");
        if streak >= self.quarantine.after {
            let until = now_ms() + u64::try_from(self.quarantine.duration.as_millis()).unwrap_or(0);
            self.health
                .quarantined_until
                .store(until, Ordering::Relaxed);
            self.health.failures.store(0, Ordering::Relaxed);
            tracing::error!(
                plugin = %self.name,
                seconds = self.quarantine.duration.as_secs(),
                "plugin quarantined after {streak} failures in a row"
            );
        }
        self.remember(hook, "failed", user, format!("{error} ({policy})"), subject);
    }

    /// A valid answer ends a failure streak.
    fn healthy(&self) {
        self.health.failures.store(0, Ordering::Relaxed);
    }

    /// A wrong answer counts as a failure of the plugin.
    fn invalid(&self, hook: Hook, user: u64, subject: &str, why: &str) {
        self.fail(
            hook,
            user,
            subject,
            &CallError::Trap(format!("invalid answer: {why}")),
        );
    }

    fn remember(&self, hook: Hook, outcome: &str, user: u64, detail: String, subject: &str) {
        self.verdicts.push(VerdictRecord {
            at: chrono::Utc::now().timestamp_millis(),
            // The log stamps its node's name.
            node: String::new(),
            plugin: self.name.clone(),
            hook: hook.as_str().to_owned(),
            outcome: outcome.to_owned(),
            user,
            detail,
            subject: subject.to_owned(),
            request_id: crate::telemetry::request_id().map(|id| id.to_string()),
        });
    }

    fn rejected(&self) {
        self.counters.rejects.fetch_add(1, Ordering::Relaxed);
    }

    fn rewritten(&self) {
        self.counters.rewrites.fetch_add(1, Ordering::Relaxed);
    }
}

/// The largest rewrite a filter may return, in characters (the host's message cap).
#[derive(Debug, Clone, Copy)]
pub struct FilterLimits {
    /// Characters.
    pub max_chars: usize,
}

/// A runner as a message filter.
pub struct FilterRunner {
    /// The plugin.
    pub runner: Arc<Runner>,
    /// The message cap.
    pub limits: FilterLimits,
}

#[async_trait]
impl MessageFilter for FilterRunner {
    fn name(&self) -> &str {
        &self.runner.name
    }

    fn reads_context(&self) -> bool {
        self.runner.loaded.reads_context()
    }

    async fn filter(&self, draft: &Draft) -> Verdict {
        let runner = &self.runner;
        let hook = Hook::FilterMessage;
        let sender = draft.sender.max(0) as u64;
        let conversation = match draft.conversation {
            Conversation::Direct(a, b) => {
                wit::Conversation::Direct((if a == draft.sender { b } else { a }).max(0) as u64)
            }
            Conversation::Group(id) => wit::Conversation::Group(id.max(0) as u64),
        };
        let message = wit::Message {
            sender,
            conversation,
            content: draft.content.clone(),
            sent_at: draft.sent_at,
        };
        let context = filter_context(draft);
        let failed = || match runner.failure {
            Failure::Open => Verdict::Allow,
            Failure::Closed => Verdict::Reject {
                code: FAILED_CLOSED_CODE,
                reason: format!(
                    "the {} plugin failed; the message was not sent",
                    runner.name
                ),
            },
        };
        let answer = runner
            .ask(
                hook,
                Request::Filter(message, context),
                sender,
                &draft.content,
            )
            .await;
        match answer {
            Outcome::Answer(Response::Verdict(wit::Verdict::Allow)) => {
                runner.healthy();
                Verdict::Allow
            }
            Outcome::Answer(Response::Verdict(wit::Verdict::Rewrite(text))) => {
                let chars = text.chars().count();
                if chars == 0 || chars > self.limits.max_chars {
                    let why = format!(
                        "a rewrite of {chars} characters (allowed: 1 to {})",
                        self.limits.max_chars
                    );
                    runner.invalid(hook, sender, &draft.content, &why);
                    return failed();
                }
                runner.healthy();
                if text != draft.content {
                    runner.rewritten();
                    runner.remember(hook, "rewritten", sender, text.clone(), &draft.content);
                }
                Verdict::Rewrite(text)
            }
            Outcome::Answer(Response::Verdict(wit::Verdict::Reject(rejection))) => {
                runner.healthy();
                runner.rejected();
                let detail = format!("{}: {}", rejection.code, rejection.reason);
                runner.remember(hook, "rejected", sender, detail, &draft.content);
                Verdict::Reject {
                    code: rejection.code,
                    reason: rejection.reason,
                }
            }
            Outcome::Answer(_) | Outcome::Failed => failed(),
        }
    }
}

/// A draft's context as plugins see it (those built against 0.1 never do).
fn filter_context(draft: &Draft) -> wit::FilterContext {
    let relations = draft.relations.unwrap_or_default();
    wit::FilterContext {
        kind: match draft.kind {
            DraftKind::Send => wit::DraftKind::Send,
            DraftKind::Edit { message_id } => wit::DraftKind::Edit(message_id.max(0) as u64),
        },
        friends: relations.friends,
        sender_role: relations.sender_role.map(wit_role),
    }
}

fn wit_role(role: Role) -> wit::Role {
    match role {
        Role::Owner => wit::Role::Owner,
        Role::Admin => wit::Role::Admin,
        Role::Member => wit::Role::Member,
    }
}

/// The group hooks, as the host's [`GroupPolicy`]: it reads the `on-join` and
/// `on-owner-leave` chains from the current [`Hooks`](super::hooks::Hooks), once per
/// decision. The size limit is checked first (the store enforces it atomically anyway);
/// then every `on-join` plugin must allow. For a hand-off the first plugin with a valid
/// answer decides; without one, the seed's rule does. With no plugins, this is exactly
/// [`SeedPolicy`].
#[derive(Clone)]
pub struct PluginGroupPolicy {
    hooks: SharedHooks,
}

impl std::fmt::Debug for PluginGroupPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginGroupPolicy").finish_non_exhaustive()
    }
}

impl PluginGroupPolicy {
    /// The policy of the chains in `hooks`.
    pub fn new(hooks: SharedHooks) -> Self {
        Self { hooks }
    }
}

fn wit_group(group: &Group) -> wit::Group {
    wit::Group {
        id: group.id.max(0) as u64,
        name: group.name.clone(),
        owner: group.owner.max(0) as u64,
        size: u32::try_from(group.size.max(0)).unwrap_or(u32::MAX),
    }
}

#[async_trait]
impl GroupPolicy for PluginGroupPolicy {
    async fn on_join(&self, group: &Group, user: UserId, member_count: i64) -> JoinDecision {
        let seed = SeedPolicy.on_join(group, user, member_count).await;
        if seed != JoinDecision::Allow {
            return seed;
        }
        let hook = Hook::OnJoin;
        let user = user.max(0) as u64;
        let count = u32::try_from(member_count.max(0)).unwrap_or(u32::MAX);
        let hooks = self.hooks.load();
        for runner in hooks.join() {
            let request = Request::Join(wit_group(group), user, count);
            match runner.ask(hook, request, user, &group.name).await {
                Outcome::Answer(Response::Join(wit::JoinDecision::Allow)) => runner.healthy(),
                Outcome::Answer(Response::Join(wit::JoinDecision::Deny(reason))) => {
                    runner.healthy();
                    runner.rejected();
                    runner.remember(hook, "denied", user, reason.clone(), &group.name);
                    return JoinDecision::Deny(reason);
                }
                Outcome::Answer(_) | Outcome::Failed => {
                    if runner.failure == Failure::Closed {
                        return JoinDecision::Deny(format!(
                            "the {} plugin failed; try again later",
                            runner.name
                        ));
                    }
                }
            }
        }
        JoinDecision::Allow
    }

    async fn on_owner_leave(&self, group: &Group, remaining: &[Member]) -> OwnerHandoff {
        let hook = Hook::OnOwnerLeave;
        let leaving = group.owner.max(0) as u64;
        let members: Vec<wit::Member> = remaining
            .iter()
            .map(|m| wit::Member {
                user: m.user.max(0) as u64,
                role: wit_role(m.role),
                joined_at: m.joined_at,
            })
            .collect();
        let hooks = self.hooks.load();
        for runner in hooks.owner_leave() {
            let request = Request::OwnerLeave(wit_group(group), leaving, members.clone());
            match runner.ask(hook, request, leaving, &group.name).await {
                Outcome::Answer(Response::Handoff(wit::Handoff::NewOwner(id))) => {
                    if let Some(member) = remaining.iter().find(|m| m.user.max(0) as u64 == id) {
                        runner.healthy();
                        runner.remember(
                            hook,
                            "decided",
                            leaving,
                            format!("new owner {id}"),
                            &group.name,
                        );
                        return OwnerHandoff::NewOwner(member.user);
                    }
                    runner.invalid(
                        hook,
                        leaving,
                        &group.name,
                        &format!("{id} is not a remaining member"),
                    );
                }
                Outcome::Answer(Response::Handoff(wit::Handoff::Dissolve)) => {
                    runner.healthy();
                    runner.remember(hook, "decided", leaving, "dissolve".to_owned(), &group.name);
                    return OwnerHandoff::Dissolve;
                }
                Outcome::Answer(_) | Outcome::Failed => {}
            }
        }
        SeedPolicy.on_owner_leave(group, remaining).await
    }
}

/// An upload as the upload chain sees it.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    /// The client's file name.
    pub name: Option<String>,
    /// The client's content type.
    pub content_type: Option<String>,
    /// Bytes.
    pub size: u64,
    /// Who uploads it.
    pub uploader: UserId,
}

impl UploadInfo {
    /// A received file, as the upload chain sees it.
    pub fn of(file: &crate::uploads::ReceivedFile, uploader: UserId) -> Self {
        Self {
            name: file.client_name.clone(),
            content_type: file.client_type.clone(),
            size: file.size,
            uploader,
        }
    }
}

/// What the upload chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadDecision {
    /// Keep it; plugins may have renamed it or given its type.
    Accept {
        /// The name whose extension the file is stored with.
        name: Option<String>,
        /// The content type that chooses the extension when there is no name.
        content_type: Option<String>,
    },
    /// Refuse it.
    Reject(String),
}

/// Runs the upload chain: accepts compose (later names win), the first reject wins.
pub(super) async fn check_upload(
    chain: &[Arc<Runner>],
    info: &UploadInfo,
    head: &[u8],
) -> UploadDecision {
    let hook = Hook::OnUpload;
    let uploader = info.uploader.max(0) as u64;
    let subject = info.name.clone().unwrap_or_default();
    let mut name = None;
    let mut content_type = None;
    for runner in chain {
        let meta = wit::UploadMeta {
            name: info.name.clone(),
            content_type: info.content_type.clone(),
            size: info.size,
            uploader,
        };
        match runner
            .ask(
                hook,
                Request::Upload(meta, head.to_vec()),
                uploader,
                &subject,
            )
            .await
        {
            Outcome::Answer(Response::Upload(wit::UploadVerdict::Accept(accept))) => {
                runner.healthy();
                if accept.name.is_some() || accept.content_type.is_some() {
                    let detail = format!(
                        "stored as {}",
                        accept
                            .name
                            .as_deref()
                            .or(accept.content_type.as_deref())
                            .unwrap_or("")
                    );
                    runner.rewritten();
                    runner.remember(hook, "rewritten", uploader, detail, &subject);
                }
                name = accept.name.or(name);
                content_type = accept.content_type.or(content_type);
            }
            Outcome::Answer(Response::Upload(wit::UploadVerdict::Reject(reason))) => {
                runner.healthy();
                runner.rejected();
                runner.remember(hook, "rejected", uploader, reason.clone(), &subject);
                return UploadDecision::Reject(reason);
            }
            Outcome::Answer(_) | Outcome::Failed => {
                if runner.failure == Failure::Closed {
                    return UploadDecision::Reject(format!(
                        "the {} plugin failed; the file was not accepted",
                        runner.name
                    ));
                }
            }
        }
    }
    UploadDecision::Accept { name, content_type }
}
