//! Logging set-up: `tracing` to standard error, filtered by `RUST_LOG` or `[log] filter`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
///
/// The compiler inside wasmtime logs every function it compiles at debug level (megabytes
/// per plugin), so its crates stay at `warn` unless the filter names them.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_compiler(filter);
    // Colour codes only help a person at a terminal; in a file or a pipe they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

/// Caps the wasm compiler's crates at `warn` unless `filter` names them itself.
fn quiet_compiler(mut filter: EnvFilter) -> EnvFilter {
    let named = filter.to_string();
    for target in [
        "cranelift_codegen",
        "wasmtime_internal_cranelift",
        "wasmtime_cranelift",
    ] {
        if !named.contains(target) {
            if let Ok(directive) = format!("{target}=warn").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    filter
}
