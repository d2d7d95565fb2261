//! The smallest useful Confab plugin: a message starting with `/shrug` becomes its text with
//! a shrug after it, the way chat apps do it.

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

/// The plugin: a unit struct, since a plugin keeps no state between calls.
pub struct Shrug;

impl Plugin for Shrug {
    // The hooks this plugin takes part in; the server calls no others.
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(message: Message) -> Verdict {
        match shrug(&message.content) {
            Some(text) => Verdict::Rewrite(text),
            None => Verdict::Allow,
        }
    }
}

// Writes the component's exports, which call the methods above.
confab_plugin_sdk::export!(Shrug);

/// The shrug.
const SHRUG: &str = r"¯\_(ツ)_/¯";

/// `text` rewritten if it is a `/shrug` command, else `None` (the message passes unchanged).
/// A plain function, so a native `cargo test` can call it.
fn shrug(text: &str) -> Option<String> {
    let rest = text.strip_prefix("/shrug")?;
    // "/shrugging" is a word, not the command.
    if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
        return None;
    }
    let rest = rest.trim();
    Some(if rest.is_empty() {
        SHRUG.to_owned()
    } else {
        format!("{rest} {SHRUG}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_gets_a_shrug() {
        assert_eq!(
            shrug("/shrug no idea").as_deref(),
            Some(r"no idea ¯\_(ツ)_/¯")
        );
        assert_eq!(shrug("/shrug").as_deref(), Some(r"¯\_(ツ)_/¯"));
        assert_eq!(shrug("/shrug   ").as_deref(), Some(r"¯\_(ツ)_/¯"));
    }

    #[test]
    fn other_messages_pass_unchanged() {
        assert_eq!(shrug("hello"), None);
        assert_eq!(shrug("/shrugging it off"), None);
        assert_eq!(shrug("say /shrug"), None);
    }

    #[test]
    fn the_hook_rewrites_only_commands() {
        // Safe to call natively: this hook makes no call into the server.
        let message = |content: &str| Message {
            sender: 1,
            conversation: confab_plugin_sdk::Conversation::Direct(2),
            content: content.to_owned(),
            sent_at: 0,
        };
        assert_eq!(
            Shrug::filter_message(message("/shrug ok")),
            Verdict::Rewrite(r"ok ¯\_(ツ)_/¯".to_owned())
        );
        assert_eq!(Shrug::filter_message(message("ok")), Verdict::Allow);
    }

    #[test]
    fn the_manifest_matches_the_plugin() {
        confab_plugin_sdk::testing::check_manifest::<Shrug>(include_str!("../plugin.toml"))
            .expect("plugin.toml");
    }
}
