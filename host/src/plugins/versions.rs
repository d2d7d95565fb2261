//! The interface versions a plugin may be built against, and how each is called.
//!
//! The server speaks the current interface (`plugin-sdk/wit`, 0.2) and still loads plugins
//! built against any 0.1.x. Both are linked into the one `Linker`: `confab:plugin/host@0.2.0`
//! from the current bindings and `confab:plugin/host@0.1.2` from bindings generated from the
//! published 0.1.2 interface, kept unchanged in `host/wit`. wasmtime matches a plugin's
//! `@0.1.0`..`@0.1.2` names to the latter and its `@0.2.x` names to the former, so each
//! plugin finds the functions its build knows. A plugin's exports decide how it is called:
//! a 0.2 plugin through `filter-in-context`, with the message's context; a 0.1 plugin through
//! `filter-message`, with the message alone. Both host interfaces are the same functions,
//! so the 0.1 one is the current implementation under its old name.

use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::Store;

use super::manifest::Hook;
use super::runtime::bindings::confab::plugin::host as wit_host;
use super::runtime::{bindings, wit, CallState, Request, Response};

/// The bindings generated from the published 0.1.2 interface.
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
mod v01 {
    wasmtime::component::bindgen!({
        path: "wit/confab-plugin-0.1.2.wit",
        world: "confab-plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

use v01::confab::plugin::host as v01_host;
use v01::exports::confab::plugin::plugin as old;

/// The interface version this server speaks.
pub const WIT_VERSION: &str = "0.2.0";
/// The versions, without their patch number, whose plugins this server loads.
const LOADS: [&str; 2] = ["0.1", "0.2"];

/// Whether a plugin built against `version` of the interface can load here.
pub(super) fn compatible(version: &str) -> bool {
    let minor = version.rsplit_once('.').map(|(minor, _)| minor);
    minor.is_some_and(|minor| LOADS.contains(&minor))
}

/// The sentence naming what this server loads, for refusals.
pub(super) fn loads() -> String {
    format!("this server speaks {WIT_VERSION} and loads 0.1.x and 0.2.x plugins")
}

/// Links the 0.1 host interface beside the current one.
pub(super) fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    v01_host::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
}

/// A plugin linked and checked against the interface its exports belong to.
#[derive(Clone)]
pub(super) enum Pre {
    /// Built against 0.2.
    Current(bindings::ConfabPluginPre<CallState>),
    /// Built against 0.1.x.
    V01(v01::ConfabPluginPre<CallState>),
}

impl Pre {
    /// Links the component against the interface its exports belong to: 0.1 when it
    /// exports `confab:plugin/plugin@0.1.x`, else the current one, whose error then says why
    /// it does not fit.
    pub(super) fn new(pre: InstancePre<CallState>) -> wasmtime::Result<Self> {
        // wasmtime finds an export of any 0.1.x under the 0.1.2 name, as it links imports.
        let v01 = pre
            .component()
            .get_export_index(None, "confab:plugin/plugin@0.1.2")
            .is_some();
        if v01 {
            v01::ConfabPluginPre::new(pre).map(Pre::V01)
        } else {
            bindings::ConfabPluginPre::new(pre).map(Pre::Current)
        }
    }

    /// Whether calls hand the plugin the message's context (0.2 and later).
    pub(super) fn reads_context(&self) -> bool {
        matches!(self, Pre::Current(_))
    }

    /// A live instance in `store`.
    pub(super) async fn instantiate(
        &self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Guest> {
        Ok(match self {
            Pre::Current(pre) => Guest::Current(pre.instantiate_async(store).await?),
            Pre::V01(pre) => Guest::V01(pre.instantiate_async(store).await?),
        })
    }
}

/// A live instance of a plugin, by the interface it was built against.
pub(super) enum Guest {
    /// Built against 0.2.
    Current(bindings::ConfabPlugin),
    /// Built against 0.1.x.
    V01(v01::ConfabPlugin),
}

impl Guest {
    /// Makes one call in `store`.
    pub(super) async fn call(
        &self,
        store: &mut Store<CallState>,
        request: Request,
    ) -> wasmtime::Result<Response> {
        match self {
            Guest::Current(plugin) => call_current(plugin, store, request).await,
            Guest::V01(plugin) => call_v01(plugin, store, request).await,
        }
    }
}

async fn call_current(
    plugin: &bindings::ConfabPlugin,
    store: &mut Store<CallState>,
    request: Request,
) -> wasmtime::Result<Response> {
    let guest = plugin.confab_plugin_plugin();
    Ok(match request {
        Request::Hooks => Response::Hooks(hooks(
            guest.call_hooks(&mut *store).await?.into_iter().map(hook),
        )),
        Request::CheckConfig(config) => {
            Response::CheckConfig(guest.call_check_config(&mut *store, &config).await?)
        }
        Request::Filter(message, context) => Response::Verdict(
            guest
                .call_filter_in_context(&mut *store, &message, context)
                .await?,
        ),
        Request::Join(group, user, count) => {
            Response::Join(guest.call_on_join(&mut *store, &group, user, count).await?)
        }
        Request::OwnerLeave(group, leaving, remaining) => Response::Handoff(
            guest
                .call_on_owner_leave(&mut *store, &group, leaving, &remaining)
                .await?,
        ),
        Request::Upload(meta, head) => {
            Response::Upload(guest.call_on_upload(&mut *store, &meta, &head).await?)
        }
    })
}

/// A call into a 0.1 plugin: the same requests in the 0.1 types, the context left out.
async fn call_v01(
    plugin: &v01::ConfabPlugin,
    store: &mut Store<CallState>,
    request: Request,
) -> wasmtime::Result<Response> {
    let guest = plugin.confab_plugin_plugin();
    Ok(match request {
        Request::Hooks => Response::Hooks(hooks(
            guest
                .call_hooks(&mut *store)
                .await?
                .into_iter()
                .map(hook_v01),
        )),
        Request::CheckConfig(config) => {
            Response::CheckConfig(guest.call_check_config(&mut *store, &config).await?)
        }
        Request::Filter(message, _context) => {
            let verdict = guest
                .call_filter_message(&mut *store, &message_v01(message))
                .await?;
            Response::Verdict(match verdict {
                old::Verdict::Allow => wit::Verdict::Allow,
                old::Verdict::Rewrite(text) => wit::Verdict::Rewrite(text),
                old::Verdict::Reject(r) => wit::Verdict::Reject(wit::Rejection {
                    code: r.code,
                    reason: r.reason,
                }),
            })
        }
        Request::Join(group, user, count) => {
            let decision = guest
                .call_on_join(&mut *store, &group_v01(group), user, count)
                .await?;
            Response::Join(match decision {
                old::JoinDecision::Allow => wit::JoinDecision::Allow,
                old::JoinDecision::Deny(reason) => wit::JoinDecision::Deny(reason),
            })
        }
        Request::OwnerLeave(group, leaving, remaining) => {
            let remaining: Vec<old::Member> = remaining.into_iter().map(member_v01).collect();
            let handoff = guest
                .call_on_owner_leave(&mut *store, &group_v01(group), leaving, &remaining)
                .await?;
            Response::Handoff(match handoff {
                old::Handoff::NewOwner(user) => wit::Handoff::NewOwner(user),
                old::Handoff::Dissolve => wit::Handoff::Dissolve,
            })
        }
        Request::Upload(meta, head) => {
            let meta = old::UploadMeta {
                name: meta.name,
                content_type: meta.content_type,
                size: meta.size,
                uploader: meta.uploader,
            };
            let verdict = guest.call_on_upload(&mut *store, &meta, &head).await?;
            Response::Upload(match verdict {
                old::UploadVerdict::Accept(a) => wit::UploadVerdict::Accept(wit::UploadAccept {
                    name: a.name,
                    content_type: a.content_type,
                }),
                old::UploadVerdict::Reject(reason) => wit::UploadVerdict::Reject(reason),
            })
        }
    })
}

/// The hooks a plugin names, sorted and without repeats.
fn hooks(named: impl Iterator<Item = Hook>) -> Vec<Hook> {
    let mut hooks: Vec<Hook> = named.collect();
    hooks.sort();
    hooks.dedup();
    hooks
}

fn hook(hook: wit::Hook) -> Hook {
    match hook {
        wit::Hook::FilterMessage => Hook::FilterMessage,
        wit::Hook::OnJoin => Hook::OnJoin,
        wit::Hook::OnOwnerLeave => Hook::OnOwnerLeave,
        wit::Hook::OnUpload => Hook::OnUpload,
    }
}

fn hook_v01(hook: old::Hook) -> Hook {
    match hook {
        old::Hook::FilterMessage => Hook::FilterMessage,
        old::Hook::OnJoin => Hook::OnJoin,
        old::Hook::OnOwnerLeave => Hook::OnOwnerLeave,
        old::Hook::OnUpload => Hook::OnUpload,
    }
}

fn message_v01(message: wit::Message) -> old::Message {
    old::Message {
        sender: message.sender,
        conversation: match message.conversation {
            wit::Conversation::Direct(user) => old::Conversation::Direct(user),
            wit::Conversation::Group(group) => old::Conversation::Group(group),
        },
        content: message.content,
        sent_at: message.sent_at,
    }
}

fn group_v01(group: wit::Group) -> old::Group {
    old::Group {
        id: group.id,
        name: group.name,
        owner: group.owner,
        size: group.size,
    }
}

fn member_v01(member: wit::Member) -> old::Member {
    old::Member {
        user: member.user,
        role: match member.role {
            wit::Role::Owner => old::Role::Owner,
            wit::Role::Admin => old::Role::Admin,
            wit::Role::Member => old::Role::Member,
        },
        joined_at: member.joined_at,
    }
}

/// The 0.1 host interface is the current one under its old name.
impl v01_host::Host for CallState {
    async fn log(&mut self, level: v01_host::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            v01_host::Level::Trace => wit_host::Level::Trace,
            v01_host::Level::Debug => wit_host::Level::Debug,
            v01_host::Level::Info => wit_host::Level::Info,
            v01_host::Level::Warn => wit_host::Level::Warn,
            v01_host::Level::Error => wit_host::Level::Error,
        };
        wit_host::Host::log(self, level, message).await
    }

    async fn config(&mut self) -> wasmtime::Result<String> {
        wit_host::Host::config(self).await
    }

    async fn config_version(&mut self) -> wasmtime::Result<u64> {
        wit_host::Host::config_version(self).await
    }

    async fn now_ms(&mut self) -> wasmtime::Result<i64> {
        wit_host::Host::now_ms(self).await
    }

    async fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        wit_host::Host::kv_get(self, key).await
    }

    async fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<()> {
        wit_host::Host::kv_set(self, key, value, ttl_ms).await
    }

    async fn kv_delete(&mut self, key: String) -> wasmtime::Result<bool> {
        wit_host::Host::kv_delete(self, key).await
    }

    async fn kv_incr(
        &mut self,
        key: String,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<i64> {
        wit_host::Host::kv_incr(self, key, delta, ttl_ms).await
    }

    async fn kv_expire(&mut self, key: String, ttl_ms: Option<u64>) -> wasmtime::Result<bool> {
        wit_host::Host::kv_expire(self, key, ttl_ms).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_of_0_1_and_0_2_load_and_others_do_not() {
        for version in ["0.1.0", "0.1.2", "0.1.9", "0.2.0", "0.2.3"] {
            assert!(compatible(version), "{version}");
        }
        for version in ["0.3.0", "1.0.0", "0.0.1", "0", ""] {
            assert!(!compatible(version), "{version}");
        }
    }
}
