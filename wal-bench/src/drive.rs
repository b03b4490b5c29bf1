//! Running writer threads against a deadline, the same way for every system.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::hist::Histogram;

/// What one thread did.
#[derive(Debug, Default)]
pub struct ThreadOutcome {
    /// Entries completed.
    pub entries: u64,
    /// Payload bytes completed.
    pub bytes: u64,
    /// Calls completed (a batch is one call).
    pub calls: u64,
    /// Latencies recorded, if any.
    pub hist: Histogram,
    /// When the thread started (after every thread was ready) and finished.
    pub span: Option<(Instant, Instant)>,
}

/// What all threads did together.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Entries completed.
    pub entries: u64,
    /// Payload bytes completed.
    pub bytes: u64,
    /// Calls completed.
    pub calls: u64,
    /// From the first thread's start to the last one's end.
    pub elapsed: Duration,
    /// Every thread's latencies.
    pub hist: Histogram,
}

/// Runs `body(thread index, start)` on `threads` threads that start together; each body
/// runs its own loop and returns what it did. `setup(i)` runs on thread `i` before the
/// common start (open topics, build payloads).
pub fn drive_custom<S, T, B>(threads: usize, setup: S, body: B) -> Result<Outcome>
where
    S: Fn(usize) -> Result<T> + Sync,
    B: Fn(usize, T) -> Result<ThreadOutcome> + Sync,
{
    let barrier = Barrier::new(threads);
    let results: Vec<Result<ThreadOutcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, setup, body) = (&barrier, &setup, &body);
                s.spawn(move || {
                    let state = setup(i);
                    barrier.wait();
                    body(i, state?)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Check("a benchmark thread panicked".into())))
            })
            .collect()
    });
    let mut out = Outcome::default();
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    for r in results {
        let t = r?;
        out.entries += t.entries;
        out.bytes += t.bytes;
        out.calls += t.calls;
        out.hist.merge(&t.hist);
        if let Some((a, b)) = t.span {
            first = Some(first.map_or(a, |f| f.min(a)));
            last = Some(last.map_or(b, |l| l.max(b)));
        }
    }
    if let (Some(a), Some(b)) = (first, last) {
        out.elapsed = b - a;
    }
    Ok(out)
}

/// Runs `op` in a loop on `threads` threads until `duration` has passed. `make(i)`
/// builds thread `i`'s operation; each call returns the entries and payload bytes it
/// completed. With `latency`, every call is timed. Each thread calls its operation once
/// before the common start, untimed and not counted: a warm-up that takes one-time costs
/// (a topic's creation, a peer's first sync of its preallocated file) out of the
/// measurement.
pub fn drive<M, O>(threads: usize, duration: Duration, latency: bool, make: M) -> Result<Outcome>
where
    M: Fn(usize) -> Result<O> + Sync,
    O: FnMut() -> Result<(u64, u64)>,
{
    let warmed = |i| {
        let mut op = make(i)?;
        op()?;
        Ok(op)
    };
    drive_custom(threads, warmed, |_, mut op| {
        let start = Instant::now();
        let deadline = start + duration;
        let mut t = ThreadOutcome::default();
        loop {
            let (entries, bytes) = if latency {
                let before = Instant::now();
                let r = op()?;
                t.hist.record(before.elapsed());
                r
            } else {
                op()?
            };
            t.entries += entries;
            t.bytes += bytes;
            t.calls += 1;
            // Reading the clock costs ~20 ns: check it every 64 calls when untimed.
            if (latency || t.calls % 64 == 0) && Instant::now() >= deadline {
                break;
            }
        }
        t.span = Some((start, Instant::now()));
        Ok(t)
    })
}

/// Bytes of random data payloads are cut from.
const POOL_BYTES: usize = 4 << 20;
/// How far the next entry's payload starts from the last one's: odd, so that offsets
/// cycle through the whole pool, and more than a typical entry, so that neighbours do
/// not overlap.
const POOL_STEP: usize = 4093;

/// Random bytes from which every entry's payload is cut at a moving offset, so that
/// consecutive entries differ: no system can compress a batch of them (raft-engine
/// compresses batches over 8 KiB with LZ4) or gain from a payload that never changes.
#[derive(Debug, Clone)]
pub struct Pool(Vec<u8>);

impl Pool {
    /// A pool for entries of at most `max_size` bytes.
    pub fn new(max_size: usize, seed: u64) -> Self {
        Self(payload(POOL_BYTES + max_size, seed))
    }

    /// A cursor over the pool for one thread, starting at a place of its own.
    pub fn cursor(&self, thread: usize) -> Cursor<'_> {
        Cursor {
            pool: &self.0,
            at: thread.wrapping_mul(POOL_BYTES / 17 + 1) % POOL_BYTES,
        }
    }
}

/// One thread's position in a [`Pool`].
#[derive(Debug, Clone)]
pub struct Cursor<'p> {
    pool: &'p [u8],
    at: usize,
}

impl<'p> Cursor<'p> {
    /// The next payload, `size` bytes (at most the pool's `max_size`).
    pub fn next(&mut self, size: usize) -> &'p [u8] {
        let s = &self.pool[self.at..self.at + size];
        self.at = (self.at + POOL_STEP) % POOL_BYTES;
        s
    }
}

/// A payload of `size` non-zero bytes that differs per `seed`.
pub fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    (0..size).map(|_| (rng.next() % 255 + 1) as u8).collect()
}

/// A tiny deterministic random number generator (xorshift64*), so that every system sees
/// the same sequence of entry sizes.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    #[allow(
        clippy::should_implement_trait,
        reason = "an infinite generator, not an iterator"
    )]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `range`.
    pub fn in_range(&mut self, range: std::ops::RangeInclusive<usize>) -> usize {
        let span = (range.end() - range.start() + 1) as u64;
        range.start() + (self.next() % span) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn threads_run_until_the_deadline() {
        let calls = AtomicU64::new(0);
        let out = drive(3, Duration::from_millis(30), true, |_| {
            Ok(|| {
                calls.fetch_add(1, Ordering::Relaxed);
                Ok((2, 20))
            })
        })
        .unwrap();
        // Each thread's untimed warm-up call is not counted.
        assert_eq!(out.calls + 3, calls.load(Ordering::Relaxed));
        assert_eq!(out.entries, 2 * out.calls);
        assert_eq!(out.bytes, 20 * out.calls);
        assert_eq!(out.hist.len(), out.calls);
        assert!(out.elapsed >= Duration::from_millis(30));
    }

    #[test]
    fn errors_reach_the_caller() {
        let r = drive(2, Duration::from_millis(50), false, |i| {
            Ok(move || {
                if i == 1 {
                    Err(Error::Check("boom".into()))
                } else {
                    Ok((1, 1))
                }
            })
        });
        // Thread 0 runs to its deadline; the error of thread 1 is what comes back.
        assert!(matches!(r, Err(Error::Check(m)) if m == "boom"));
    }

    #[test]
    fn payloads_and_sizes_are_deterministic() {
        assert_eq!(payload(100, 7), payload(100, 7));
        assert!(payload(1000, 1).iter().all(|&b| b != 0));
        let pool = Pool::new(64, 5);
        let mut c = pool.cursor(0);
        let (a1, a2) = (c.next(64), c.next(64));
        assert_ne!(a1, a2, "consecutive payloads differ");
        assert_ne!(pool.cursor(1).next(64), a1, "threads start apart");
        let mut a = XorShift::new(3);
        for _ in 0..1000 {
            assert!((500..=1024).contains(&a.in_range(500..=1024)));
        }
    }
}
