//! One socket's outbound queue: the frames the hub hands it, waiting to be written, bounded
//! in frames and in bytes.
//!
//! A queue of its own rather than a tokio channel: a bounded channel allocates its first
//! block of 32 slots and two cache-padded halves when it is made, about 1.6 KiB for every
//! socket whether or not anything is ever sent to it, and most sockets of a chat server
//! are idle. This one allocates nothing until a frame waits; a `VecDeque` behind a mutex
//! that the hub and the socket's session each hold for a push or a pop, and a `Notify`
//! to wake the one reader.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

/// Slots an empty queue keeps rather than freeing and allocating them again per frame.
const KEEP_SLOTS: usize = 16;

/// What became of a frame handed to [`Outbox::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// It waits to be written.
    Queued,
    /// The queue is at its bound in frames or bytes: the reader is too slow.
    Full,
    /// The socket is gone.
    Closed,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    bytes: usize,
    closed: bool,
}

/// The queue of one socket.
#[derive(Debug)]
pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    max_frames: usize,
    max_bytes: usize,
}

impl Outbox {
    /// An empty queue holding at most `max_frames` frames and `max_bytes` bytes.
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            max_frames: max_frames.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` (sharing its bytes) if it fits.
    pub fn push(&self, frame: &Utf8Bytes) -> Pushed {
        {
            let mut queue = self.lock();
            if queue.closed {
                return Pushed::Closed;
            }
            if queue.frames.len() >= self.max_frames || queue.bytes + frame.len() > self.max_bytes {
                return Pushed::Full;
            }
            queue.bytes += frame.len();
            queue.frames.push_back(frame.clone());
        }
        self.ready.notify_one();
        Pushed::Queued
    }

    /// The oldest waiting frame, if any.
    pub fn try_recv(&self) -> Option<Utf8Bytes> {
        pop(&mut self.lock())
    }

    /// Waits for the oldest frame; `None` once the queue is closed and empty. For one
    /// reader: a push between its look and its wait leaves the `Notify` a permit (and a
    /// wait dropped after being notified passes the permit on).
    pub async fn recv(&self) -> Option<Utf8Bytes> {
        loop {
            {
                let mut queue = self.lock();
                if let Some(frame) = pop(&mut queue) {
                    return Some(frame);
                }
                if queue.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Takes no more frames; the reader gets what waits, then `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Bytes waiting to be written.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Takes the oldest frame off `queue`.
fn pop(queue: &mut Queue) -> Option<Utf8Bytes> {
    let frame = queue.frames.pop_front()?;
    queue.bytes -= frame.len();
    if queue.frames.is_empty() && queue.frames.capacity() > KEEP_SLOTS {
        // A socket that had a burst does not keep its buffer when it goes idle.
        queue.frames = VecDeque::new();
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn frame(text: &str) -> Utf8Bytes {
        Utf8Bytes::from(text.to_owned())
    }

    #[test]
    fn frames_come_out_in_order_within_both_bounds() {
        let outbox = Outbox::new(3, 10);
        assert_eq!(outbox.push(&frame("abcd")), Pushed::Queued);
        assert_eq!(outbox.push(&frame("efgh")), Pushed::Queued);
        // 8 bytes wait: 3 more would pass the byte bound.
        assert_eq!(outbox.push(&frame("ijk")), Pushed::Full);
        assert_eq!(outbox.push(&frame("ij")), Pushed::Queued);
        // Three frames wait: a fourth passes the frame bound.
        assert_eq!(outbox.push(&frame("")), Pushed::Full);
        assert_eq!(outbox.bytes(), 10);
        assert_eq!(outbox.try_recv().as_deref(), Some("abcd"));
        assert_eq!(outbox.bytes(), 6);
        assert_eq!(outbox.push(&frame("l")), Pushed::Queued);
        let rest: Vec<String> = std::iter::from_fn(|| outbox.try_recv())
            .map(|f| f.as_str().to_owned())
            .collect();
        assert_eq!(rest, ["efgh", "ij", "l"]);
        assert_eq!(outbox.bytes(), 0);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_frame_and_ends_after_close() {
        let outbox = Arc::new(Outbox::new(8, 1024));
        let reader = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(frame) = outbox.recv().await {
                    got.push(frame.as_str().to_owned());
                }
                got
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(outbox.push(&frame("one")), Pushed::Queued);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(outbox.push(&frame("two")), Pushed::Queued);
        outbox.close();
        assert_eq!(outbox.push(&frame("three")), Pushed::Closed);
        let got = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("the reader ends")
            .expect("no panic");
        assert_eq!(got, ["one", "two"]);
    }
}
