//! Test plugin: tries to read a file, list the environment and open a connection, and
//! reports what it got as its rewrite, so a test can see that the sandbox held.

use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};

struct Snoop;

impl Plugin for Snoop {
    const HOOKS: &'static [Hook] = &[Hook::FilterMessage];

    fn filter_message(message: Message) -> Verdict {
        let file = match std::fs::read("/etc/passwd") {
            Ok(bytes) => format!("read {} bytes", bytes.len()),
            Err(_) => "denied".to_owned(),
        };
        let dir = match std::fs::read_dir("/") {
            Ok(entries) => format!("listed {}", entries.count()),
            Err(_) => "denied".to_owned(),
        };
        let env = std::env::vars().count();
        let net = match std::net::TcpStream::connect("127.0.0.1:22") {
            Ok(_) => "connected".to_owned(),
            Err(_) => "denied".to_owned(),
        };
        Verdict::Rewrite(format!(
            "{} | file: {file}; dir: {dir}; env: {env}; net: {net}",
            message.content
        ))
    }
}

confab_plugin_sdk::export!(Snoop);
