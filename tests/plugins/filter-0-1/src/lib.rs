//! A message filter built against interface 0.1.2 as it was published: `wit/` holds that
//! WIT unchanged, and the plugin uses wit-bindgen directly, as any plugin of that time could.
//! It proves that a server on a newer minor version keeps loading such plugins and calling
//! them the way they were built. It answers "old?" with "answered by a 0.1.2 plugin",
//! refuses messages containing "forbidden" and leaves the others alone. It calls host
//! functions of 0.1.1 and 0.1.2, so it really imports `confab:plugin/host@0.1.2`.

wit_bindgen::generate!({
    world: "confab-plugin",
    path: "wit",
});

use confab::plugin::host;
use exports::confab::plugin::plugin::{
    Group, Guest, Handoff, Hook, JoinDecision, Member, Message, Rejection, UploadAccept,
    UploadMeta, UploadVerdict, UserId, Verdict,
};

struct Filter01;

impl Guest for Filter01 {
    fn hooks() -> Vec<Hook> {
        vec![Hook::FilterMessage]
    }

    fn check_config(_config: String) -> Result<(), String> {
        Ok(())
    }

    fn filter_message(message: Message) -> Verdict {
        if message.content == "old?" {
            // 0.1.1 and 0.1.2 host functions: the store the plugin keeps is the server's.
            let key = format!("asked:{}", message.sender);
            host::kv_incr(&key, 1, None);
            host::kv_expire(&key, Some(60_000));
            let _ = host::config_version();
            Verdict::Rewrite("answered by a 0.1.2 plugin".to_owned())
        } else if message.content.contains("forbidden") {
            Verdict::Reject(Rejection {
                code: 30013,
                reason: "refused by a 0.1.2 plugin".to_owned(),
            })
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

export!(Filter01);
