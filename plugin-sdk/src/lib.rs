//! The SDK for Confab plugins: implement one trait, call one macro, build a WebAssembly
//! component the server loads.
//!
//! Confab runs its message filters, group policies and upload checks as plugins: small
//! WebAssembly components the server calls at fixed points (hooks). This crate hides the
//! component-model plumbing. A plugin implements [`Plugin`], calls [`export!`] once, and
//! talks to the server through four small modules: [`log`], [`config`], [`kv`] and
//! [`clock`].
//!
//! # A plugin in five steps
//!
//! 1. Make a library crate that builds a component (or let `confab plugin new <name>`
//!    write one to start from):
//!
//!    ```toml
//!    [package]
//!    name = "no-shouting"
//!    version = "0.1.0"
//!    edition = "2021"
//!
//!    [lib]
//!    crate-type = ["cdylib"]
//!
//!    [dependencies]
//!    confab-plugin-sdk = { path = "../confab/plugin-sdk" }
//!
//!    [profile.release]
//!    opt-level = "s"
//!    lto = true
//!    strip = true
//!    ```
//!
//! 2. Implement [`Plugin`] in `src/lib.rs`: name the hooks you take part in, override their
//!    methods, and export the type:
//!
//!    ```
//!    use confab_plugin_sdk::{Hook, Message, Plugin, Verdict};
//!
//!    /// Turns messages written in capitals into lower case.
//!    pub struct NoShouting;
//!
//!    impl Plugin for NoShouting {
//!        const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
//!
//!        fn filter_message(message: Message) -> Verdict {
//!            match calm(&message.content) {
//!                Some(text) => Verdict::Rewrite(text),
//!                None => Verdict::Allow,
//!            }
//!        }
//!    }
//!
//!    confab_plugin_sdk::export!(NoShouting);
//!
//!    /// The decision, as a pure function a native unit test can call.
//!    fn calm(text: &str) -> Option<String> {
//!        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
//!        let shouting = letters >= 5 && !text.chars().any(|c| c.is_lowercase());
//!        shouting.then(|| text.to_lowercase())
//!    }
//!
//!    assert_eq!(calm("HELLO EVERYONE").as_deref(), Some("hello everyone"));
//!    assert_eq!(calm("Hello everyone"), None);
//!    assert_eq!(calm("OK"), None);
//!    ```
//!
//! 3. Build it: `cargo build --release --target wasm32-wasip2` (once:
//!    `rustup target add wasm32-wasip2`). The component is
//!    `target/wasm32-wasip2/release/no_shouting.wasm`.
//!
//! 4. Write its manifest, `no-shouting.toml`:
//!
//!    ```toml
//!    name = "no-shouting"
//!    version = "0.1.0"
//!    description = "turns messages in capitals into lower case"
//!    hooks = ["filter-message"]   # kebab-case, as in the WIT; among Plugin::HOOKS
//!    order = 50                   # chains run in ascending order, ties by name
//!    failure = "open"             # a failed call allows ("closed": refuses)
//!    enabled = true
//!    [limits]                     # optional: memory cap and deadline of one call
//!    memory_mib = 16
//!    deadline_ms = 5
//!    [config]                     # optional: handed to the plugin as JSON
//!    ```
//!
//! 5. Copy `no_shouting.wasm` to `no-shouting.wasm` in the server's plugin folder (the
//!    `[plugins] dir` setting; `<data_dir>/plugins` by default), with `no-shouting.toml`
//!    beside it. The server watches the folder: the plugin is checked and swapped in while
//!    the server runs, and the admin API (`GET /admin/plugins`) shows its state and counters.
//!
//! # The hooks
//!
//! | hook | [`Plugin`] method | called | answers |
//! |---|---|---|---|
//! | `filter-message` | [`filter_message`](Plugin::filter_message), or [`filter_in_context`](Plugin::filter_in_context) to see the [`FilterContext`] | for every private and group message and every edit, before it is stored | [`Verdict`]: allow, rewrite, reject |
//! | `on-join` | [`on_join`](Plugin::on_join) | when a user asks to join a group | [`JoinDecision`]: allow, deny |
//! | `on-owner-leave` | [`on_owner_leave`](Plugin::on_owner_leave) | when a group's owner leaves it | [`Handoff`]: new owner, dissolve |
//! | `on-upload` | [`on_upload`](Plugin::on_upload) | for every uploaded file, with its first 512 bytes | [`UploadVerdict`]: accept (with a new extension), reject |
//!
//! Plugins of one hook run as a chain in the manifests' `order`: rewrites compose (each
//! plugin sees the text the previous one produced) and the first rejection wins.
//!
//! # What a plugin can and cannot rely on
//!
//! - **Memory may be reset at any time.** The server keeps a few live instances of each
//!   plugin and may replace any of them between two calls (after a failure, a
//!   configuration change, or simply to recycle it). A `static` is a cache, never a
//!   record: state that must last goes through [`kv`].
//! - **Hooks must be fast.** Each call has a deadline of a few milliseconds (the
//!   manifest's `limits.deadline_ms`, 10 ms unless the operator changed it); a call that
//!   misses it is stopped and counts as failed. `filter-message` runs on every message:
//!   aim for microseconds, parse the configuration through [`config::get`] (cached), and
//!   avoid allocating where it is easy to.
//! - **A failed call is not the end of the world, but it is counted.** A panic, a
//!   timeout or running out of memory (the manifest's `limits.memory_mib`) fails that one
//!   call; the manifest's `failure` says whether the message, join or upload then goes
//!   on (`"open"`) or is refused (`"closed"`). A plugin that keeps failing is quarantined
//!   for a while.
//! - **No file system, network or environment.** A plugin sees only what the hooks hand it
//!   and what the host functions in this crate return. `std::fs`, `std::net` and
//!   `std::env` compile, but find no files, no network and no variables. Use
//!   [`clock::now_ms`] for the time.
//! - **Hooks the plugin did not name are never called.** The server asks for
//!   [`Plugin::HOOKS`] once, when it loads the plugin, and only calls those (and only
//!   those the manifest lists).
//!
//! # Configuration
//!
//! The manifest's `[config]` table reaches the plugin as JSON, and operators change it
//! while the server runs with `PUT /admin/plugins/<name>/config` and a JSON body. Before
//! applying a new configuration the server calls [`Plugin::check_config`]; an error keeps
//! the old one. See [`config`] for the pattern: a serde type with defaults, checked in
//! `check_config` with [`config::parse`] and read in hooks with [`config::get`] (add
//! `serde = { version = "1", features = ["derive"] }` to the plugin's dependencies).
//!
//! # Testing
//!
//! The host functions exist only inside the server: outside it ([`log`], [`config::get`],
//! [`kv`], [`clock`]) they panic. Keep each decision in a plain function that takes what
//! it needs (the message, the parsed configuration, a counter's value) and test that with
//! `cargo test` on your machine's own target; keep the host calls in the thin [`Plugin`]
//! methods around it. The hook methods themselves can be called in tests when they make
//! no host calls, as the examples in this documentation do.
//!
//! The `testing` feature adds `testing::check_manifest`, which checks a manifest against
//! the plugin the way the server does when it loads them (the hooks it names are among
//! [`Plugin::HOOKS`], the plugin accepts its `[config]`). Enable it for the tests only:
//!
//! ```toml
//! [dev-dependencies]
//! confab-plugin-sdk = { path = "../confab/plugin-sdk", features = ["testing"] }
//! ```
//!
//! ```ignore
//! #[test]
//! fn the_manifest_matches_the_plugin() {
//!     confab_plugin_sdk::testing::check_manifest::<NoShouting>(include_str!("../plugin.toml"))
//!         .expect("plugin.toml");
//! }
//! ```
//!
//! `confab plugin new <name>` writes a plugin crate set up this way, and
//! `confab plugin check <file.wasm>` checks a built component and its manifest without a
//! server. `examples/minimal-plugin` and the bundled plugins in `plugins/` are complete
//! plugins to read.
//!
//! # Versions
//!
//! The interface between server and plugins is the WIT package `confab:plugin`, whose
//! current version is in this crate's `wit/` folder ([`interface`] shows it). It follows semver the
//! pre-1.0 way ([`changelog`] has the full policy and history):
//!
//! - a patch release (0.2.x → 0.2.y) only adds host functions or documentation, so a
//!   server on 0.2.y loads every plugin built against any 0.2.x;
//! - a plugin built against a newer patch than the server's loads too, unless it calls a
//!   host function the server lacks (loading then fails and names the function);
//! - a minor release (0.1 → 0.2) changes what plugins export; so far each has only added
//!   items, and a server keeps loading plugins of the earlier minor versions (a 0.2 server
//!   loads 0.1.x and 0.2.x plugins, calling each the way it was built), while a plugin of a
//!   newer minor version than the server's is refused.
//!
//! This SDK speaks `confab:plugin@0.2.0`: its plugins need a server that speaks 0.2, which
//! hands [`Plugin::filter_in_context`] the message's [`FilterContext`]. A plugin built with
//! an 0.1 SDK keeps loading and working on such a server unchanged; it simply does not see
//! the context. The crate's own version moves with the interface's minor version.
#![deny(missing_docs)]

pub mod clock;
pub mod config;
pub mod kv;
pub mod log;
mod plugin;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod types;

pub use plugin::Plugin;

// What a message, a group or an upload looks like to a plugin, and what hooks answer, as
// generated from the WIT (with the WIT's documentation).
pub use __bindings::exports::confab::plugin::plugin::{
    Conversation, DraftKind, FilterContext, Group, GroupId, Handoff, Hook, JoinDecision, Member,
    Message, MessageId, Rejection, Role, UploadAccept, UploadMeta, UploadVerdict, UserId, Verdict,
};

/// The code generated from the WIT by `wit-bindgen`. Not part of the API: the types are
/// re-exported at the crate root, the host functions are wrapped in [`log`], [`config`],
/// [`kv`] and [`clock`], and [`export!`] writes the exports.
// The generated code is full of `unsafe`, but the `unsafe_code` lint does not look into
// macro expansions from other crates, so the SDK builds under `forbid(unsafe_code)` as it is.
#[doc(hidden)]
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        world: "confab-plugin",
        path: "wit",
        // The export macro must be reachable from plugin crates, where `export!` expands.
        pub_export_macro: true,
        export_macro_name: "__export_confab_plugin_bindings",
        default_bindings_module: "::confab_plugin_sdk::__bindings",
        // Tests compare verdicts with `assert_eq!`.
        additional_derives: [PartialEq, Eq],
    });
}

/// The glue [`export!`] expands to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::Adapter;
}

/// Makes a type implementing [`Plugin`] the plugin this crate builds. Call it once, at
/// the top level of the plugin's `lib.rs`:
///
/// ```
/// use confab_plugin_sdk::{Hook, Plugin};
///
/// pub struct Quiet;
///
/// impl Plugin for Quiet {
///     const HOOKS: &'static [Hook] = &[Hook::FilterMessage];
/// }
///
/// confab_plugin_sdk::export!(Quiet);
/// ```
///
/// It writes the functions the component exports, each a thin wrapper calling the
/// matching [`Plugin`] method, and refuses to compile a plugin whose
/// [`HOOKS`](Plugin::HOOKS) is empty:
///
/// ```compile_fail
/// use confab_plugin_sdk::{Hook, Plugin};
///
/// pub struct Idle;
///
/// impl Plugin for Idle {
///     const HOOKS: &'static [Hook] = &[];
/// }
///
/// confab_plugin_sdk::export!(Idle);
/// ```
#[macro_export]
macro_rules! export {
    ($plugin:ty $(,)?) => {
        const _: () = {
            ::core::assert!(
                !<$plugin as $crate::Plugin>::HOOKS.is_empty(),
                "Plugin::HOOKS must name at least one hook"
            );
            // The exports exist on wasm32 only: a native build (the plugin's unit tests) has
            // no use for them, and a native linker refuses their names (`confab:plugin/...`).
            // The generated export macro takes an identifier, so the adapter gets a name.
            #[cfg(target_arch = "wasm32")]
            type ConfabPluginExports = $crate::__private::Adapter<$plugin>;
            #[cfg(target_arch = "wasm32")]
            $crate::__bindings::__export_confab_plugin_bindings!(
                ConfabPluginExports with_types_in $crate::__bindings
            );
        };
    };
}

/// The interface between the server and its plugins: the WIT package `confab:plugin` as
/// this SDK was built against.
///
#[doc = concat!("```wit\n", include_str!("../wit/confab-plugin.wit"), "```")]
pub mod interface {}

#[doc = include_str!("../wit/CHANGELOG.md")]
pub mod changelog {}
