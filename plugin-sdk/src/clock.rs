//! The server's clock.

use crate::__bindings::confab::plugin::host;

/// Wall-clock time on the server, unix milliseconds.
///
/// Use this rather than `std::time::SystemTime`: it is the same clock the server stamps
/// messages with ([`Message::sent_at`](crate::Message::sent_at)).
pub fn now_ms() -> i64 {
    host::now_ms()
}
