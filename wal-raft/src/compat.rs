//! TEMPORARY: the engine API of issue 13, built from today's `wal::Wal`.
//!
//! The engine is gaining `truncate_from`, topics that start at any offset,
//! `set_meta`/`meta`, `read_range` and `on_durable` (branch h13-eng). Until that lands,
//! [`Compat`] offers exactly those calls, with the same names and signatures, on top of
//! the current API, so that the store is written against the real one. When it lands,
//! this file is deleted and `lib.rs` says `type Log = wal::Wal`: nothing else changes.
//!
//! How it fakes them (correct, but slower than the real thing):
//! - A topic `T` lives in a *physical* topic `T~g{gen}` whose offset 0 is index `base`.
//!   Starting a topic anywhere or cutting its suffix starts a new generation: the kept
//!   entries are copied into it, then a metadata entry switches to it.
//! - Metadata (and `gen`, `base`) is a whole map appended to the side topic `T~meta`
//!   after every change; the last entry wins. It is written after the copies, and the
//!   log keeps one order across topics, so a crash leaves either the old generation or
//!   the complete new one.
//! - `on_durable` hands the callback to a thread that calls `sync()` for every callback
//!   queued at that moment (group commit, but one more thread hop than the engine's).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use wal::{Entry, Error, Result, Wal};

/// A durability callback.
type Callback = Box<dyn FnOnce(Result<()>) + Send + 'static>;

/// What the side topic records for one topic.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Map {
    gen: u64,
    base: u64,
    meta: BTreeMap<String, Vec<u8>>,
}

/// TEMPORARY: today's `Wal` with the engine API of issue 13 (see the module docs).
#[derive(Debug)]
pub(crate) struct Compat {
    wal: Arc<Wal>,
    maps: Mutex<HashMap<String, Map>>,
    flusher: Option<(mpsc::Sender<Callback>, JoinHandle<()>)>,
}

/// The log type the store talks to.
pub(crate) type Log = Compat;

/// Wraps an open log for the store.
pub(crate) fn wrap(wal: Arc<Wal>) -> Arc<Log> {
    Arc::new(Compat::new(wal))
}

fn phys(topic: &str, gen: u64) -> String {
    format!("{topic}~g{gen}")
}

fn side(topic: &str) -> String {
    format!("{topic}~meta")
}

impl Compat {
    fn new(wal: Arc<Wal>) -> Self {
        let (tx, rx) = mpsc::channel::<Callback>();
        let w = wal.clone();
        let thread = std::thread::Builder::new()
            .name("wal-raft-compat-sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    match w.sync() {
                        Ok(()) => batch.into_iter().for_each(|cb| cb(Ok(()))),
                        Err(e) => {
                            let cause = Arc::new(e);
                            for cb in batch {
                                cb(Err(Error::Poisoned {
                                    cause: cause.clone(),
                                }));
                            }
                        }
                    }
                }
            })
            .expect("spawn the compat sync thread");
        Self {
            wal,
            maps: Mutex::new(HashMap::new()),
            flusher: Some((tx, thread)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Map>> {
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The map of `topic`, loaded from its side topic on first use.
    fn map<'a>(&self, maps: &'a mut HashMap<String, Map>, topic: &str) -> Result<&'a mut Map> {
        if !maps.contains_key(topic) {
            let s = side(topic);
            let n = self.wal.get_topic_entry_count(&s);
            let map = if n == 0 {
                Map::default()
            } else {
                let e = self.wal.read_from(&s, n - 1, usize::MAX)?;
                let bytes = &e.first().ok_or(Error::Closed)?.data;
                postcard::from_bytes(bytes)
                    .map_err(|e| Error::Config(format!("compat map: {e}")))?
            };
            maps.insert(topic.to_owned(), map);
        }
        Ok(maps.get_mut(topic).expect("inserted above"))
    }

    fn save(&self, topic: &str, map: &Map) -> Result<()> {
        let s = side(topic);
        let bytes = postcard::to_stdvec(map).map_err(|e| Error::Config(e.to_string()))?;
        let at = self.wal.append_for_topic(&s, &bytes)?;
        self.wal.truncate_before(&s, at)
    }

    /// `(first, next)` of `topic` under `map`.
    fn bounds(&self, topic: &str, map: &Map) -> (u64, u64) {
        let p = phys(topic, map.gen);
        let n = self.wal.get_topic_entry_count(&p);
        let first = self.wal.oldest_offset(&p).unwrap_or(0);
        (map.base + first, map.base + n)
    }

    /// A generation number whose physical topic holds nothing (a copy a crash cut short
    /// may have left one behind).
    fn fresh_gen(&self, topic: &str, map: &Map) -> u64 {
        let mut g = map.gen + 1;
        while self.wal.get_topic_entry_count(&phys(topic, g)) != 0 {
            g += 1;
        }
        g
    }

    /// Switches `topic` to a new generation starting at `base`, holding `kept`.
    fn regenerate(&self, topic: &str, map: &mut Map, base: u64, kept: &[Entry]) -> Result<()> {
        let old = phys(topic, map.gen);
        let old_next = self.wal.get_topic_entry_count(&old);
        let gen = self.fresh_gen(topic, map);
        for chunk in kept.chunks(256) {
            let refs: Vec<&[u8]> = chunk.iter().map(|e| e.data.as_slice()).collect();
            self.wal.batch_append_for_topic(&phys(topic, gen), &refs)?;
        }
        map.gen = gen;
        map.base = base;
        self.save(topic, map)?;
        if old_next > 0 {
            self.wal.truncate_before(&old, old_next)?;
        }
        Ok(())
    }

    pub(crate) fn get_topic_entry_count(&self, topic: &str) -> u64 {
        let mut maps = self.lock();
        match self.map(&mut maps, topic) {
            Ok(m) => {
                let m = m.clone();
                self.bounds(topic, &m).1
            }
            Err(_) => 0,
        }
    }

    pub(crate) fn oldest_offset(&self, topic: &str) -> Option<u64> {
        let mut maps = self.lock();
        let m = self.map(&mut maps, topic).ok()?.clone();
        Some(self.bounds(topic, &m).0)
    }

    pub(crate) fn batch_append_for_topic(
        &self,
        topic: &str,
        entries: &[&[u8]],
    ) -> Result<Range<u64>> {
        let mut maps = self.lock();
        let m = self.map(&mut maps, topic)?.clone();
        let r = self
            .wal
            .batch_append_for_topic(&phys(topic, m.gen), entries)?;
        Ok(r.start + m.base..r.end + m.base)
    }

    pub(crate) fn truncate_from(&self, topic: &str, offset: u64) -> Result<()> {
        let mut maps = self.lock();
        let mut m = self.map(&mut maps, topic)?.clone();
        let (first, next) = self.bounds(topic, &m);
        if offset >= next {
            return Ok(());
        }
        if offset < first {
            return Err(Error::OffsetReclaimed {
                topic: topic.to_owned(),
                offset,
                oldest: first,
            });
        }
        let kept = self.read_phys(topic, &m, first..offset)?;
        self.regenerate(topic, &mut m, first, &kept)?;
        maps.insert(topic.to_owned(), m);
        Ok(())
    }

    pub(crate) fn truncate_before(&self, topic: &str, offset: u64) -> Result<()> {
        let mut maps = self.lock();
        let mut m = self.map(&mut maps, topic)?.clone();
        let (first, next) = self.bounds(topic, &m);
        if offset <= first {
            return Ok(());
        }
        if offset <= next && next > m.base {
            return self
                .wal
                .truncate_before(&phys(topic, m.gen), offset - m.base);
        }
        self.regenerate(topic, &mut m, offset, &[])?;
        maps.insert(topic.to_owned(), m);
        Ok(())
    }

    pub(crate) fn set_meta(&self, topic: &str, key: &str, value: &[u8]) -> Result<()> {
        let mut maps = self.lock();
        let m = self.map(&mut maps, topic)?;
        m.meta.insert(key.to_owned(), value.to_vec());
        let m = m.clone();
        self.save(topic, &m)
    }

    pub(crate) fn meta(&self, topic: &str, key: &str) -> Option<Vec<u8>> {
        let mut maps = self.lock();
        self.map(&mut maps, topic).ok()?.meta.get(key).cloned()
    }

    fn read_phys(&self, topic: &str, m: &Map, range: Range<u64>) -> Result<Vec<Entry>> {
        let p = phys(topic, m.gen);
        let mut out = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let got = self.wal.read_from(&p, at - m.base, 1 << 20)?;
            if got.is_empty() {
                break;
            }
            for mut e in got {
                e.offset += m.base;
                if e.offset < range.end {
                    at = e.offset + 1;
                    out.push(e);
                } else {
                    at = range.end;
                }
            }
        }
        Ok(out)
    }

    pub(crate) fn read_range(
        &self,
        topic: &str,
        range: Range<u64>,
        max_bytes: usize,
    ) -> Result<Vec<Entry>> {
        let mut maps = self.lock();
        let m = self.map(&mut maps, topic)?.clone();
        drop(maps);
        let (first, next) = self.bounds(topic, &m);
        let (start, end) = (range.start.max(first), range.end.min(next));
        if start >= end {
            return Ok(Vec::new());
        }
        let p = phys(topic, m.gen);
        let mut got = self.wal.read_from(&p, start - m.base, max_bytes)?;
        for e in &mut got {
            e.offset += m.base;
        }
        got.retain(|e| e.offset < end);
        Ok(got)
    }

    pub(crate) fn on_durable(&self, callback: impl FnOnce(Result<()>) + Send + 'static) {
        let Some((tx, _)) = &self.flusher else {
            callback(Err(Error::Closed));
            return;
        };
        if let Err(mpsc::SendError(cb)) = tx.send(Box::new(callback)) {
            cb(Err(Error::Closed));
        }
    }
}

impl Drop for Compat {
    fn drop(&mut self) {
        if let Some((tx, thread)) = self.flusher.take() {
            drop(tx);
            if thread.join().is_err() {
                tracing::warn!("the compat sync thread panicked");
            }
        }
    }
}
