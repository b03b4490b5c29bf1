//! The model: what each topic must hold, and how much of it a crash may take.
//!
//! Everything the log writes is ordered by a *sequence number* the model hands out in
//! program order (the log's own order for single-threaded operations). A sync, or a
//! `wait_durable` on an entry, makes everything up to some sequence number durable; an
//! operation that writes to the OS (a read, a persisted cursor, a truncation) makes
//! everything up to its sequence number survive a process crash. Entries appended by
//! concurrent threads share one sequence number, marked as a *phase*: nothing is assumed
//! about their order relative to each other.
//!
//! All bounds are lower bounds: the log may make more durable than the model knows (a
//! timer sync, a rollover), never less.
//!
//! A suffix truncation (`truncate_from`) keeps the topic as it was before it ([`Cut`]):
//! until the truncation is known to survive, a crash may bring that version back. A
//! topic start past the end (`truncate_before` past the end, or on a new topic) is
//! modelled as an atomic batch of [`PHANTOM`] entries up to the start, below the floor,
//! which no read ever returns. Metadata values keep their history ([`MetaModel`]), so a
//! restart can tell which one survived; the log's one global order says that everything
//! before a surviving value survived too.

use std::collections::{BTreeMap, BTreeSet};

use super::op::Reader;

/// A position (cursor value or truncation floor) the log may be holding, with what is
/// known about its persistence.
#[derive(Debug, Clone, Default)]
pub(crate) struct Persisted {
    /// The value the log holds in memory (the model's expectation).
    pub now: u64,
    /// The highest value the log may hold: an operation that failed may have moved it.
    pub upper: u64,
    /// Lower bound of the value that survives a process crash.
    pub written: u64,
    /// Lower bound of the value that survives a power loss.
    pub durable: u64,
    /// Written values not yet known durable, with the sequence number of their record.
    pending: Vec<(u64, u64)>,
}

impl Persisted {
    pub fn at(v: u64) -> Self {
        Self {
            now: v,
            upper: v,
            written: v,
            durable: v,
            pending: Vec::new(),
        }
    }

    /// The value moves to `v` in memory (`upper` follows).
    pub fn set(&mut self, v: u64) {
        self.now = v;
        self.upper = self.upper.max(v);
    }

    /// A record at `seq` holding at least `v` reached the OS.
    pub fn wrote(&mut self, seq: u64, v: u64) {
        self.written = self.written.max(v);
        if v > self.durable {
            self.pending.push((seq, v));
        }
    }

    /// Everything up to `seq` is durable.
    pub fn durable_upto(&mut self, seq: u64) {
        let mut durable = self.durable;
        self.pending.retain(|&(s, v)| {
            if s <= seq {
                durable = durable.max(v);
            }
            s > seq
        });
        self.durable = durable;
    }

    /// A suffix truncation at `k` moved the value back to at most `k` (lower bounds may
    /// only drop; the highest value the log may hold stays).
    pub fn clamp(&mut self, k: u64) {
        self.now = self.now.min(k);
        self.written = self.written.min(k);
        self.durable = self.durable.min(k);
        for (_, v) in &mut self.pending {
            *v = (*v).min(k);
        }
    }

    /// After a restart the log holds `v`; `durable` says whether it survives a power loss
    /// from now on.
    pub fn adopt(&mut self, v: u64, durable: bool) {
        self.now = v;
        self.upper = v;
        self.written = v;
        if durable {
            self.durable = v;
            self.pending.clear();
        } else {
            self.durable = self.durable.min(v);
            self.pending.retain(|&(_, p)| p <= v);
        }
    }
}

/// Whether a record that creates something (a topic, a consumer) is known to survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existence {
    /// Survives a power loss.
    Durable,
    /// Its record (at this sequence number) reached the OS: survives a process crash.
    Written(u64),
    /// Its record is at this sequence number, perhaps still in the log's buffer.
    Pending(u64),
}

impl Existence {
    pub fn durable_upto(&mut self, seq: u64) {
        if let Self::Written(s) | Self::Pending(s) = *self {
            if s <= seq {
                *self = Self::Durable;
            }
        }
    }

    pub fn written_upto(&mut self, seq: u64) {
        if let Self::Pending(s) = *self {
            if s <= seq {
                *self = Self::Written(s);
            }
        }
    }

    pub fn is_durable(self) -> bool {
        self == Self::Durable
    }

    pub fn is_written(self) -> bool {
        !matches!(self, Self::Pending(_))
    }
}

/// The payload the model holds for the offsets a topic start skipped: never a payload
/// [`payload`] makes (its first 8 bytes would be offset `u64::MAX`), never read back.
pub(crate) const PHANTOM: &[u8] = &[0xff; 17];

/// A topic as it was before a suffix truncation, kept while a crash may still undo it.
#[derive(Debug, Clone)]
pub(crate) struct Cut {
    /// The truncation's sequence number.
    pub seq: u64,
    /// Whether the truncation survives a crash.
    pub survives: Existence,
    /// The topic before it: entries, their sequence numbers, counts a crash may cut at.
    pub entries: Vec<Vec<u8>>,
    pub seqs: Vec<u64>,
    pub boundaries: BTreeSet<usize>,
    /// Entries of that version that survive a power loss, and a process crash.
    pub durable: usize,
    pub written: usize,
}

/// The values metadata key of a topic was set to, in order, and how many of them must
/// survive (the last surviving one is at least the `durable`-th).
#[derive(Debug, Clone, Default)]
pub(crate) struct MetaModel {
    /// (sequence number of the `set_meta`, value).
    pub values: Vec<(u64, Vec<u8>)>,
    pub durable: usize,
    pub written: usize,
}

impl MetaModel {
    fn durable_upto(&mut self, seq: u64) {
        let n = self.values.partition_point(|(s, _)| *s <= seq);
        self.durable = self.durable.max(n);
        self.written = self.written.max(n);
    }

    fn written_upto(&mut self, seq: u64) {
        let n = self.values.partition_point(|(s, _)| *s <= seq);
        self.written = self.written.max(n);
    }
}

/// One cursor of a topic.
#[derive(Debug, Clone)]
pub(crate) struct CursorModel {
    pub pos: Persisted,
    pub exists: Existence,
}

/// What the log must hold for one topic.
#[derive(Debug, Clone)]
pub(crate) struct TopicModel {
    pub name: String,
    /// `None` until the topic is created (first append or consumer).
    pub created: Option<Existence>,
    /// Every entry that may exist, from offset 0 (reclaimed ones included).
    pub entries: Vec<Vec<u8>>,
    /// The sequence number of each entry's append.
    pub seqs: Vec<u64>,
    /// Counts a crash may cut the topic at: after each single append or whole batch.
    pub boundaries: BTreeSet<usize>,
    /// Entries that survive a power loss.
    pub durable: usize,
    /// Entries that survive a process crash.
    pub written: usize,
    /// The truncation floor (`truncate_before`).
    pub floor: Persisted,
    pub cursors: BTreeMap<Reader, CursorModel>,
    /// Suffix truncations a crash may still undo, oldest first.
    pub cuts: Vec<Cut>,
    /// Metadata by key.
    pub meta: BTreeMap<String, MetaModel>,
}

impl TopicModel {
    pub fn new(name: String) -> Self {
        let mut cursors = BTreeMap::new();
        cursors.insert(
            Reader::Shared,
            CursorModel {
                pos: Persisted::at(0),
                exists: Existence::Durable,
            },
        );
        Self {
            name,
            created: None,
            entries: Vec::new(),
            seqs: Vec::new(),
            boundaries: [0].into(),
            durable: 0,
            written: 0,
            floor: Persisted::at(0),
            cursors,
            cuts: Vec::new(),
            meta: BTreeMap::new(),
        }
    }

    pub fn count(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Entries exist only in a topic that exists: the shared cursor's existence is the
    /// topic's.
    pub fn created_at(&mut self, seq: u64) {
        if self.created.is_none() {
            self.created = Some(Existence::Pending(seq));
        }
    }

    pub fn push(&mut self, seq: u64, data: Vec<u8>) {
        self.entries.push(data);
        self.seqs.push(seq);
    }

    /// The end of an append or batch: a crash may cut here.
    pub fn boundary(&mut self) {
        self.boundaries.insert(self.entries.len());
    }

    /// `truncate_from(k)` by the record at `seq`: the entries from `k` on go, cursors move
    /// back to `k`; the version before is kept until the truncation surely survives.
    pub fn cut(&mut self, k: u64, seq: u64) {
        let k = k as usize;
        if k >= self.entries.len() {
            return;
        }
        self.cuts.push(Cut {
            seq,
            survives: Existence::Pending(seq),
            entries: self.entries.clone(),
            seqs: self.seqs.clone(),
            boundaries: self.boundaries.clone(),
            durable: self.durable,
            written: self.written,
        });
        self.entries.truncate(k);
        self.seqs.truncate(k);
        self.boundaries.retain(|&b| b <= k);
        self.boundaries.insert(k);
        self.durable = self.durable.min(k);
        self.written = self.written.min(k);
        for c in self.cursors.values_mut() {
            c.pos.clamp(k as u64);
        }
    }

    /// The versions of the topic a crash may leave, as (entries, sequence numbers, counts
    /// a crash may cut at, entries that survive a power loss, entries that survive a
    /// process crash): the current one first, then the one before each suffix truncation
    /// that may be lost (`lost` says which may).
    pub fn versions(&self, lost: impl Fn(&Existence) -> bool) -> Vec<Version<'_>> {
        let mut out = vec![Version {
            entries: &self.entries,
            seqs: &self.seqs,
            boundaries: &self.boundaries,
            durable: self.durable,
            written: self.written,
            before_cut: None,
        }];
        for c in self.cuts.iter().rev() {
            if !lost(&c.survives) {
                break;
            }
            out.push(Version {
                entries: &c.entries,
                seqs: &c.seqs,
                boundaries: &c.boundaries,
                durable: c.durable,
                written: c.written,
                before_cut: Some(c.seq),
            });
        }
        out
    }

    /// The lowest durable cursor among cursors whose existence is durable: every durable
    /// entry from there on must stay readable after a power loss.
    pub fn min_durable_cursor(&self) -> u64 {
        self.cursors
            .values()
            .filter(|c| c.exists.is_durable())
            .map(|c| c.pos.durable)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The lowest cursor position held in memory (what live retention must respect).
    pub fn min_cursor(&self) -> u64 {
        self.cursors
            .values()
            .map(|c| c.pos.now)
            .min()
            .unwrap_or(u64::MAX)
    }
}

/// One version of a topic (see [`TopicModel::versions`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version<'a> {
    pub entries: &'a [Vec<u8>],
    pub seqs: &'a [u64],
    pub boundaries: &'a BTreeSet<usize>,
    pub durable: usize,
    pub written: usize,
    /// The sequence number of the suffix truncation this version precedes (`None`: the
    /// current version).
    pub before_cut: Option<u64>,
}

/// The whole model: the topics and the sequence numbers.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub topics: Vec<TopicModel>,
    seq: u64,
    /// Sequence numbers shared by the entries of a concurrent phase.
    phases: BTreeSet<u64>,
    /// Unique nonce of the next entry's payload (offsets are reused after a crash).
    nonce: u64,
}

impl Model {
    pub fn new(topics: u8) -> Self {
        Self {
            topics: (0..topics)
                .map(|t| TopicModel::new(topic_name(t)))
                .collect(),
            seq: 0,
            phases: BTreeSet::new(),
            nonce: 1,
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A sequence number shared by the entries of a concurrent phase.
    pub fn phase_seq(&mut self) -> u64 {
        let s = self.next_seq();
        self.phases.insert(s);
        s
    }

    pub fn is_phase(&self, seq: u64) -> bool {
        self.phases.contains(&seq)
    }

    /// `n` fresh payload nonces.
    pub fn nonces(&mut self, n: u64) -> u64 {
        let first = self.nonce;
        self.nonce += n;
        first
    }

    /// Everything the log holds up to `seq` is durable (and so written).
    pub fn durable_upto(&mut self, seq: u64) {
        for t in &mut self.topics {
            let n = t.seqs.partition_point(|&s| s <= seq);
            t.durable = t.durable.max(n);
            t.written = t.written.max(n);
            if let Some(c) = &mut t.created {
                c.durable_upto(seq);
            }
            t.floor.durable_upto(seq);
            for c in t.cursors.values_mut() {
                c.pos.durable_upto(seq);
                c.exists.durable_upto(seq);
            }
            for c in &mut t.cuts {
                c.survives.durable_upto(seq);
                let n = c.seqs.partition_point(|&s| s <= seq);
                c.durable = c.durable.max(n);
                c.written = c.written.max(n);
            }
            for m in t.meta.values_mut() {
                m.durable_upto(seq);
            }
        }
    }

    /// Everything the log holds up to `seq` reached the OS.
    pub fn written_upto(&mut self, seq: u64) {
        for t in &mut self.topics {
            let n = t.seqs.partition_point(|&s| s <= seq);
            t.written = t.written.max(n);
            if let Some(c) = &mut t.created {
                c.written_upto(seq);
            }
            for c in t.cursors.values_mut() {
                c.exists.written_upto(seq);
            }
            for c in &mut t.cuts {
                c.survives.written_upto(seq);
                let n = c.seqs.partition_point(|&s| s <= seq);
                c.written = c.written.max(n);
            }
            for m in t.meta.values_mut() {
                m.written_upto(seq);
            }
        }
    }

    /// A clean close made everything durable, cursors included.
    pub fn all_durable(&mut self) {
        self.durable_upto(self.seq);
        for t in &mut self.topics {
            let floor = t.floor.now;
            t.floor.adopt(floor, true);
            for c in t.cursors.values_mut() {
                let v = c.pos.now;
                c.pos.adopt(v, true);
                c.exists = Existence::Durable;
            }
        }
    }
}

/// The name of topic number `t`.
pub fn topic_name(t: u8) -> String {
    format!("topic-{t}")
}

/// The payload of an entry: its offset and nonce, then a pattern of the nonce, cut to
/// `len` bytes. Every append gets a fresh nonce, so an entry left over from before a crash
/// never matches the entry appended at its offset after it.
pub fn payload(offset: u64, nonce: u64, len: usize) -> Vec<u8> {
    let mut head = offset.to_le_bytes().to_vec();
    head.extend_from_slice(&nonce.to_le_bytes());
    let mut data = crate::pattern(nonce, len.max(16));
    data[..16].copy_from_slice(&head);
    data.truncate(len);
    data
}
