//! Scheduling jitter at the engine's own trace points, for the harness's threads.
//!
//! A race between two engine threads shows only when one of them is set aside inside a
//! short window, which on an idle machine almost never happens. The engine emits a
//! `tracing` event at its state transitions (a segment taken out for reclaim, a rollover,
//! recovery's cuts), often right between deciding something and acting on it. A
//! [`Jitter`] subscriber, installed per thread on the threads the harness drives the log
//! from, makes such a thread sleep for a short random time at some of those events, so
//! that the other threads (the log's background thread, the concurrent phase's other
//! threads) run inside the window. With it, the replay that first showed the reclaim race
//! now kept as `wal/tests/model.rs`'s
//! `regression_a_reclaimer_set_aside_after_choosing_its_segment_holds_back_later_deletions`
//! showed that race about twice as often, before the fix.
//!
//! Thread-local only: it never affects another test's threads, nor the log's background
//! thread (whose events go to the process's default subscriber).

use std::sync::Mutex;
use std::time::Duration;

use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Metadata, Subscriber};

use super::rng::Rng;

/// The longest pause at one event.
const MAX_PAUSE_US: u64 = 500;

/// Sleeps at a random half of the engine's events (`wal_core` targets), up to
/// [`MAX_PAUSE_US`] each, with its own seeded choices.
#[derive(Debug)]
pub(crate) struct Jitter {
    rng: Mutex<Rng>,
}

impl Jitter {
    /// A dispatcher to install with [`tracing::dispatcher::with_default`] on one thread.
    pub fn dispatch(seed: u64) -> Dispatch {
        Dispatch::new(Self {
            rng: Mutex::new(Rng::new(seed)),
        })
    }
}

impl Subscriber for Jitter {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target().starts_with("wal_core")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {
        let pause = {
            let mut rng = self
                .rng
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if rng.chance(1, 2) {
                rng.range(1, MAX_PAUSE_US)
            } else {
                0
            }
        };
        if pause > 0 {
            std::thread::sleep(Duration::from_micros(pause));
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
