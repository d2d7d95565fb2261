//! A plugin built against interface 0.1.0 with wit-bindgen directly, not the SDK, to prove
//! that a server on a newer 0.1.x patch keeps loading older plugins. It answers "ping" with
//! "pong" and leaves every other message alone.

wit_bindgen::generate!({
    world: "confab-plugin",
    // build.rs writes the 0.1.0 interface there, derived from plugin-sdk/wit.
    path: concat!(env!("OUT_DIR"), "/wit"),
});

use confab::plugin::host::{self, Level};
use exports::confab::plugin::plugin::{
    Group, Guest, Handoff, Hook, JoinDecision, Member, Message, UploadAccept, UploadMeta,
    UploadVerdict, UserId, Verdict,
};

struct OldAbi;

impl Guest for OldAbi {
    fn hooks() -> Vec<Hook> {
        vec![Hook::FilterMessage]
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn filter_message(message: Message) -> Verdict {
        if message.content == "ping" {
            // A host call, so the component really imports `confab:plugin/host@0.1.0`.
            host::log(Level::Debug, "old-abi: ping -> pong");
            Verdict::Rewrite("pong".to_owned())
        } else {
            Verdict::Allow
        }
    }

    fn on_join(_group: Group, _user: UserId, _member_count: u32) -> JoinDecision {
        JoinDecision::Allow
    }

    fn on_owner_leave(_group: Group, _leaving: UserId, remaining: Vec<Member>) -> Handoff {
        remaining
            .first()
            .map_or(Handoff::Dissolve, |member| Handoff::NewOwner(member.user))
    }

    fn on_upload(_meta: UploadMeta, _head: Vec<u8>) -> UploadVerdict {
        UploadVerdict::Accept(UploadAccept {
            name: None,
            content_type: None,
        })
    }
}

export!(OldAbi);
