//! The epoch ticker: a thread that moves the engine's epoch on every millisecond while a
//! plugin runs, which is how a running call yields and meets its deadline
//! (`runtime::at_tick`), and that sleeps while none does.
//!
//! Why it sleeps: ticking every millisecond with nothing to interrupt woke the server a
//! thousand times a second, idle or not. It parks after [`PARK_AFTER`] ticks without a
//! running call; the first call to start wakes it.
//!
//! Invariant: while a call runs (a [`Running`] guard is alive) the ticker ticks. A call
//! adds itself to the count before it unparks the thread, and the thread reads the count
//! before it parks; a `park` after an `unpark` returns at once, so no call is ever left
//! without ticks (which would let a plugin spin past its deadline with no one to stop it).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::Engine;

/// Time between two ticks.
const TICK: Duration = Duration::from_millis(1);
/// Ticks in a row without a running call after which the thread parks.
const PARK_AFTER: u32 = 100;

/// The ticker of one engine; the thread ends once the engine or this is gone.
#[derive(Debug)]
pub(crate) struct Ticker {
    /// Calls running now.
    running: AtomicUsize,
    /// Ticks so far.
    ticks: AtomicU64,
    thread: OnceLock<Thread>,
}

/// A call in progress: the ticker ticks while one is alive.
#[derive(Debug)]
pub(crate) struct Running(Arc<Ticker>);

impl Ticker {
    /// Starts the ticker thread of `engine`.
    pub(crate) fn start(engine: &Engine) -> Arc<Self> {
        let ticker = Arc::new(Self {
            running: AtomicUsize::new(0),
            ticks: AtomicU64::new(0),
            thread: OnceLock::new(),
        });
        let (engine, weak) = (engine.weak(), Arc::downgrade(&ticker));
        match std::thread::Builder::new()
            .name("confab-epoch".to_owned())
            .spawn(move || tick(&engine, &weak))
        {
            Ok(handle) => {
                let _ = ticker.thread.set(handle.thread().clone());
            }
            Err(error) => tracing::error!(%error, "could not start the plugin deadline ticker"),
        }
        ticker
    }

    /// Marks a call as running until the guard is dropped, waking the thread if it sleeps.
    pub(crate) fn running(self: &Arc<Self>) -> Running {
        if self.running.fetch_add(1, Ordering::SeqCst) == 0 {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
        Running(self.clone())
    }

    /// Ticks so far.
    #[cfg(test)]
    fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::SeqCst)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // A parked thread wakes, finds the ticker gone and ends.
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

fn tick(engine: &wasmtime::EngineWeak, ticker: &Weak<Ticker>) {
    let mut quiet = 0u32;
    loop {
        std::thread::sleep(TICK);
        let (Some(engine), Some(ticker)) = (engine.upgrade(), ticker.upgrade()) else {
            return;
        };
        engine.increment_epoch();
        ticker.ticks.fetch_add(1, Ordering::SeqCst);
        if ticker.running.load(Ordering::SeqCst) > 0 {
            quiet = 0;
            continue;
        }
        quiet += 1;
        if quiet >= PARK_AFTER {
            quiet = 0;
            // Not holding the ticker while parked, so that dropping it ends the thread.
            drop((engine, ticker));
            std::thread::park();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        Engine::new(&config).expect("engine")
    }

    /// Waits until the ticker has stopped ticking: no tick for 50 ms.
    fn wait_parked(ticker: &Ticker) {
        for _ in 0..200 {
            let before = ticker.ticks();
            std::thread::sleep(Duration::from_millis(50));
            if ticker.ticks() == before {
                return;
            }
        }
        panic!("the ticker never parked");
    }

    /// Waits until the ticker ticks again.
    fn wait_ticking(ticker: &Ticker, from: u64) {
        for _ in 0..500 {
            if ticker.ticks() > from + 5 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the ticker did not tick for a running call");
    }

    #[test]
    fn sleeps_while_nothing_runs_and_ticks_while_a_call_does() {
        let engine = engine();
        let ticker = Ticker::start(&engine);
        wait_parked(&ticker);

        let parked_at = ticker.ticks();
        let call = ticker.running();
        wait_ticking(&ticker, parked_at);
        // A call that runs long keeps it ticking past the quiet spell.
        std::thread::sleep(Duration::from_millis(250));
        let later = ticker.ticks();
        wait_ticking(&ticker, later);
        drop(call);
        wait_parked(&ticker);
    }

    #[test]
    fn overlapping_calls_keep_it_ticking_until_the_last_ends() {
        let engine = engine();
        let ticker = Ticker::start(&engine);
        wait_parked(&ticker);
        let first = ticker.running();
        let second = ticker.running();
        drop(first);
        std::thread::sleep(Duration::from_millis(250));
        let now = ticker.ticks();
        wait_ticking(&ticker, now);
        drop(second);
        wait_parked(&ticker);
    }
}
