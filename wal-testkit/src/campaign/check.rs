//! The checks after a restart: what survived a clean close, a process crash or a power
//! loss, against what the model says must (and may) have survived. Then the model adopts
//! what survived.

use std::collections::BTreeSet;

use wal::{FsyncSchedule, ReadConsistency};

use super::harness::{Harness, Restart};
use super::model::{CursorModel, Existence, Persisted, TopicModel, Version};
use super::op::{Reader, Retention};
use super::report::{Violation, ViolationKind};

/// What a scan of the directory (before the log is opened) says of one topic.
#[derive(Debug, Clone)]
pub(super) struct OnDisk {
    pub first_offset: u64,
    /// The lowest cursor recovered from the records (shared cursor and consumers).
    pub min_cursor: Option<(String, u64)>,
}

/// Per metadata key the model knows: (topic number, key, index of the value found).
type MetaFound = Vec<(usize, String, Option<usize>)>;

/// What the check of one topic found.
struct TopicFound {
    /// Entries compared.
    checked: u64,
    /// Where its cursors are.
    positions: Vec<(Reader, u64)>,
    /// Which version of it survived (0: the current one; see `TopicModel::versions`).
    version: usize,
}

impl Harness {
    /// Scans the directory as recovery will, for the cursors it holds (the API shows only
    /// where a cursor reads next, never its recorded value). `None` if the scan fails:
    /// opening will then tell what is wrong.
    pub(super) fn scan_cursors(&self) -> Option<Vec<(String, OnDisk)>> {
        let inspection = wal::inspect::inspect(&self.dir, &self.backend).ok()?;
        Some(
            inspection
                .topics()
                .into_iter()
                .map(|t| {
                    let min_cursor = t.cursors.iter().min_by_key(|(_, c)| *c).cloned();
                    (
                        t.name,
                        OnDisk {
                            first_offset: t.first_offset,
                            min_cursor,
                        },
                    )
                })
                .collect(),
        )
    }

    /// Checks every topic after a restart of kind `how`, then adopts what survived.
    /// `on_disk` is the scan made before the log was opened.
    pub(super) fn check_after(
        &mut self,
        how: Restart,
        on_disk: Option<Vec<(String, OnDisk)>>,
    ) -> Result<(), Violation> {
        let known: BTreeSet<String> = self.model.topics.iter().map(|t| t.name.clone()).collect();
        for name in self.wal().topics() {
            if !known.contains(&name) {
                return Err(self.violation(
                    ViolationKind::Invented,
                    format!("after a {how:?} restart the log holds topic {name:?}, never created"),
                ));
            }
        }
        // Recovery keeps what its own cursors have not passed: retention deleted nothing
        // that a recovered cursor (or truncation) still covers.
        for (name, d) in on_disk.unwrap_or_default() {
            if let Some((consumer, at)) = d.min_cursor {
                if d.first_offset > at {
                    return Err(self.violation(
                        ViolationKind::Retention,
                        format!(
                            "{name}: after a {how:?} restart the oldest entry is {}, yet cursor {consumer:?} recovered at {at}: entries it never passed are gone",
                            d.first_offset
                        ),
                    ));
                }
            }
        }
        // One global order: a metadata value that survived proves that everything before
        // it survived, in every topic.
        let (proven, meta_found) = self.check_meta(how)?;
        for t in 0..self.model.topics.len() {
            let TopicFound {
                checked,
                positions,
                version,
            } = self.check_topic(t, how, proven)?;
            self.stats.entries_checked += checked;
            self.stats.truncations_undone += u64::from(version > 0);
            let (count, oldest) = {
                let name = &self.model.topics[t].name;
                (
                    self.wal().get_topic_entry_count(name),
                    self.wal().oldest_offset(name),
                )
            };
            self.adopt(t, how, count, oldest, positions, version);
        }
        self.stats.meta_checked += meta_found.iter().filter(|f| f.2.is_some()).count() as u64;
        self.adopt_meta(how, meta_found);
        Ok(())
    }

    /// Checks every metadata value the model knows of: the one found is one that was set,
    /// no older than the last that had to survive `how`. Returns the sequence number of
    /// the newest `set_meta` whose value survived (everything before it survived too),
    /// and the index of each value found.
    #[allow(clippy::type_complexity)] // reason: (topic, key, index) triples, used once
    fn check_meta(
        &self,
        how: Restart,
    ) -> Result<(u64, Vec<(usize, String, Option<usize>)>), Violation> {
        let mut found = Vec::new();
        let mut proven = 0;
        for (t, tm) in self.model.topics.iter().enumerate() {
            for (key, m) in &tm.meta {
                let got = self.wal().meta(&tm.name, key);
                let index = match &got {
                    None => None,
                    Some(v) => match m.values.iter().position(|(_, x)| x == v) {
                        Some(i) => Some(i),
                        None => {
                            return Err(self.violation(
                                ViolationKind::Invented,
                                format!(
                                "{}: meta {key:?} holds {} bytes never set after a {how:?} restart",
                                tm.name,
                                v.len()
                            ),
                            ))
                        }
                    },
                };
                if let Some(i) = index {
                    proven = proven.max(m.values[i].0);
                }
                found.push((t, key.clone(), index));
            }
        }
        for &(t, ref key, index) in &found {
            let tm = &self.model.topics[t];
            let m = &tm.meta[key];
            let must = match how {
                Restart::Clean => m.values.len(),
                Restart::Kill => m.written,
                Restart::Power => m.durable,
            }
            .max(m.values.partition_point(|(s, _)| *s <= proven));
            let have = index.map_or(0, |i| i + 1);
            if have < must {
                return Err(self.violation(
                    ViolationKind::LostDurable,
                    format!(
                        "{}: meta {key:?} holds value {have} of {} after a {how:?} restart; value {must} had to survive (a later record survived)",
                        tm.name,
                        m.values.len()
                    ),
                ));
            }
        }
        Ok((proven, found))
    }

    /// The model takes the metadata values found as the new truth.
    fn adopt_meta(&mut self, how: Restart, found: MetaFound) {
        for (t, key, index) in found {
            let tm = &mut self.model.topics[t];
            let Some(m) = tm.meta.get_mut(&key) else {
                continue; // the topic is gone, and its metadata with it
            };
            let n = index.map_or(0, |i| i + 1);
            m.values.truncate(n);
            m.written = n;
            m.durable = if how == Restart::Kill {
                m.durable.min(n)
            } else {
                n
            };
        }
    }

    /// Checks one topic. `proven`: everything up to this sequence number survived.
    fn check_topic(&self, t: usize, how: Restart, proven: u64) -> Result<TopicFound, Violation> {
        let wal = self.wal();
        let tm = &self.model.topics[t];
        let name = &tm.name;
        let count = wal.get_topic_entry_count(name);
        let oldest = wal.oldest_offset(name);
        let fail = |kind, msg: String| Err(self.violation(kind, format!("{name}: {msg}")));
        // Every retained entry, read back.
        let got = match oldest {
            None => Vec::new(),
            Some(o) => match wal.read_from(name, o, usize::MAX) {
                Ok(got) => got,
                Err(e) => {
                    return fail(
                        ViolationKind::Unexpected,
                        format!("reading from {o} after a {how:?} restart: {e}"),
                    )
                }
            },
        };
        if let Some(o) = oldest {
            if got.len() as u64 != count.saturating_sub(o) {
                return fail(
                    ViolationKind::LostDurable,
                    format!(
                        "{} entries read from {o}, the log counts {count}",
                        got.len()
                    ),
                );
            }
        }
        // A suffix truncation that may be lost leaves the version before it possible.
        let lost = |e: &Existence| match how {
            Restart::Clean => false,
            Restart::Kill => !e.is_written(),
            Restart::Power => !e.is_durable(),
        };
        let versions = tm.versions(lost);
        let mut first_failure = None;
        let mut chosen = None;
        for (i, v) in versions.iter().enumerate() {
            if v.before_cut.is_some_and(|s| s <= proven) {
                continue; // a later record survived, so did the truncation
            }
            match self.check_version(v, how, proven, count, oldest, &got) {
                Ok(()) => {
                    chosen = Some(i);
                    break;
                }
                Err(failure) => {
                    first_failure.get_or_insert(failure);
                }
            }
        }
        let Some(version) = chosen else {
            let (kind, msg) = first_failure.expect("the current version is always tried");
            return fail(kind, msg);
        };
        let v = &versions[version];
        let must = match how {
            Restart::Clean => v.entries.len(),
            Restart::Kill => v.durable.max(v.written),
            Restart::Power => v.durable,
        } as u64;
        let created_must_survive = match how {
            Restart::Clean => tm.created.is_some(),
            Restart::Kill => tm.created.is_some_and(Existence::is_written),
            Restart::Power => tm.created.is_some_and(Existence::is_durable),
        };
        if oldest.is_none() && created_must_survive {
            return fail(
                ViolationKind::LostDurable,
                format!("the topic is gone after a {how:?} restart; its creation had to survive"),
            );
        }
        let checked = got.len() as u64;
        let oldest_or_end = oldest.unwrap_or(count);
        // Retention: the entries that had to survive, from the lowest cursor that had to
        // survive on, are still readable. Only where the model knows that cursor exactly
        // (a lower bound would blame the log for deleting what it rightly deleted), and
        // only for the current version: a suffix truncation moved the cursors back, but
        // the version before it was retained by where they had been.
        let keep_from = if version == 0 {
            self.keep_from(tm, how)
        } else {
            None
        };
        if let Some(keep_from) = keep_from {
            if keep_from < must && oldest_or_end > keep_from {
                return fail(
                    ViolationKind::Retention,
                    format!("entries {keep_from}..{oldest_or_end} are gone after a {how:?} restart; a cursor that had to survive was at {keep_from} ({must} entries had to survive)"),
                );
            }
        }
        // A truncation that had to survive stays.
        let floor = match how {
            Restart::Clean => tm.floor.now,
            Restart::Kill => tm.floor.written,
            Restart::Power => tm.floor.durable,
        };
        if let Some(o) = oldest {
            if o < floor.min(count) {
                return fail(
                    ViolationKind::Retention,
                    format!("truncate_before({floor}) had to survive, yet entries from {o} are back after a {how:?} restart"),
                );
            }
            if self.setup.retention == Retention::AgeForever && o > tm.floor.upper {
                return fail(
                    ViolationKind::Retention,
                    format!("entries below {o} are gone under a retain_age of an hour (truncated below {} at most)", tm.floor.upper),
                );
            }
        }
        let positions = self.check_cursors(tm, how, oldest, count)?;
        Ok(TopicFound {
            checked,
            positions,
            version,
        })
    }

    /// Checks the entries found (`count` in all, `got` read from `oldest` on) against one
    /// version of the topic: how many had to survive, a cut between appends, and every
    /// byte. `Err` holds the violation's kind and message.
    #[allow(clippy::too_many_arguments)] // reason: what one restart found, and the version
    fn check_version(
        &self,
        v: &Version<'_>,
        how: Restart,
        proven: u64,
        count: u64,
        oldest: Option<u64>,
        got: &[wal::Entry],
    ) -> Result<(), (ViolationKind, String)> {
        let appended = v.entries.len() as u64;
        let which = match v.before_cut {
            None => String::new(),
            Some(s) => format!(" (as before the suffix truncation at step seq {s})"),
        };
        let must = match how {
            Restart::Clean => v.entries.len(),
            Restart::Kill => v.durable.max(v.written),
            Restart::Power => v.durable,
        }
        .max(v.seqs.partition_point(|&s| s <= proven)) as u64;
        if count < must {
            return Err((
                ViolationKind::LostDurable,
                format!(
                    "{count} entries after a {how:?} restart, {must} of {appended} had to survive{which}"
                ),
            ));
        }
        if count > appended {
            return Err((
                ViolationKind::Invented,
                format!(
                    "{count} entries after a {how:?} restart, only {appended} were appended{which}"
                ),
            ));
        }
        if !v.boundaries.contains(&(count as usize)) {
            return Err((
                ViolationKind::TornBatch,
                format!(
                    "cut at {count} entries, inside a batch (appends end at {:?}){which}",
                    v.boundaries
                ),
            ));
        }
        if let Some(o) = oldest {
            for (i, e) in got.iter().enumerate() {
                let offset = o + i as u64;
                if e.offset != offset || v.entries.get(offset as usize) != Some(&e.data) {
                    return Err((
                        ViolationKind::Invented,
                        format!("entry {} (the {i}th read from {o}) is not what was appended at that offset{which}", e.offset),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The lowest position of a cursor that had to survive `how`, if the model knows it
    /// exactly, raised to the truncation floor. (The highest floor the log may hold, not
    /// the one that had to survive: a timer sync the model does not see may have made a
    /// truncation durable, and retention then rightly deleted what it dropped. So a
    /// truncation lost in a crash that took entries with it is not caught here; the suite
    /// tests that deterministically.)
    fn keep_from(&self, tm: &TopicModel, how: Restart) -> Option<u64> {
        let strict = self.setup.consistency == ReadConsistency::StrictlyAtOnce;
        let synced = self.setup.schedule != FsyncSchedule::NoFsync;
        let lowest = match how {
            Restart::Clean => tm.min_cursor(),
            Restart::Kill if strict => tm.cursors.values().map(|c| c.pos.written).min()?,
            Restart::Power if strict && synced => tm.min_durable_cursor(),
            _ => return None,
        };
        Some(lowest.max(tm.floor.upper))
    }

    /// Checks each cursor's position; returns the positions found.
    fn check_cursors(
        &self,
        tm: &TopicModel,
        how: Restart,
        oldest: Option<u64>,
        count: u64,
    ) -> Result<Vec<(Reader, u64)>, Violation> {
        let name = &tm.name;
        let mut found = Vec::new();
        for (&reader, c) in &tm.cursors {
            let must_exist = match how {
                Restart::Clean => true,
                Restart::Kill => c.exists.is_written(),
                Restart::Power => c.exists.is_durable(),
            };
            let label = match reader.name() {
                Some(n) => format!("{name}/{n}"),
                None => format!("{name} (shared cursor)"),
            };
            let Some(o) = oldest else {
                // The topic is gone (checked: its creation did not have to survive).
                if must_exist && c.pos.durable > 0 && how == Restart::Power {
                    return Err(self.violation(
                        ViolationKind::Cursor,
                        format!(
                            "{label}: gone with its topic, its durable position was {}",
                            c.pos.durable
                        ),
                    ));
                }
                continue;
            };
            let peeked = match reader.name() {
                None => self.wal().read_next(name, false),
                Some(cname) => self
                    .wal()
                    .consumer(name, &cname)
                    .and_then(|c| c.read_next(false)),
            };
            let at = match peeked {
                Ok(e) => e.map_or(count, |e| e.offset),
                Err(e) => {
                    return Err(self.violation(
                        ViolationKind::Unexpected,
                        format!("{label}: peeking after a {how:?} restart: {e}"),
                    ))
                }
            };
            let lowest = match how {
                Restart::Clean => c.pos.now,
                Restart::Kill => c.pos.written,
                Restart::Power if must_exist => c.pos.durable,
                Restart::Power => 0,
            }
            .min(count);
            if at < lowest {
                return Err(self.violation(
                    ViolationKind::Cursor,
                    format!("{label}: at {at} after a {how:?} restart, below {lowest} where it had to be (it had read up to {})", c.pos.now),
                ));
            }
            let highest = c.pos.upper.max(tm.floor.upper);
            let lost_registration = !must_exist && at == o;
            if at > highest && !lost_registration {
                return Err(self.violation(
                    ViolationKind::Cursor,
                    format!("{label}: at {at} after a {how:?} restart, past {highest}: entries it never read were skipped"),
                ));
            }
            found.push((reader, at));
        }
        Ok(found)
    }

    /// The model takes what survived as the new truth: `version` of the topic (see
    /// `TopicModel::versions`), cut at `count` entries.
    fn adopt(
        &mut self,
        t: usize,
        how: Restart,
        count: u64,
        oldest: Option<u64>,
        positions: Vec<(Reader, u64)>,
        version: usize,
    ) {
        let reregistered = self.model.next_seq();
        let durable = how != Restart::Kill;
        let tm = &mut self.model.topics[t];
        let Some(o) = oldest else {
            // The topic is gone: it starts again from nothing.
            *tm = TopicModel::new(tm.name.clone());
            return;
        };
        if version > 0 {
            // The suffix truncations from that one on were lost.
            let cut = tm.cuts.len() - version;
            let before = tm.cuts.swap_remove(cut);
            tm.entries = before.entries;
            tm.seqs = before.seqs;
            tm.boundaries = before.boundaries;
            tm.durable = before.durable;
            tm.written = before.written;
        }
        tm.cuts.clear();
        let n = count as usize;
        tm.entries.truncate(n);
        tm.seqs.truncate(n);
        tm.boundaries.retain(|&b| b <= n);
        tm.boundaries.insert(n);
        tm.written = n;
        tm.durable = if durable { n } else { tm.durable.min(n) };
        tm.created = Some(match (how, tm.created) {
            (Restart::Kill, Some(Existence::Pending(s))) => Existence::Written(s),
            (Restart::Kill, Some(c)) => c,
            (Restart::Kill, None) => Existence::Written(reregistered),
            _ => Existence::Durable,
        });
        // The floor and the cursors recovery found are durable from now on, after a kill
        // too: recovery syncs the segment appends continue in, and every earlier one was
        // synced before the next took a record. (The engine trusts them as durable, and
        // retention deletes by them at once.)
        tm.floor.adopt(o, true);
        tm.cursors
            .retain(|r, _| positions.iter().any(|(p, _)| p == r));
        for (reader, at) in positions {
            let c = tm.cursors.get_mut(&reader).expect("checked");
            // A consumer whose registration did not have to survive may have been
            // registered again by the check: its record is new, written but not durable.
            let sure = reader == Reader::Shared || c.exists.is_durable() || how == Restart::Clean;
            c.exists = if sure {
                Existence::Durable
            } else {
                Existence::Written(reregistered)
            };
            c.pos.adopt(at, sure);
            if !sure {
                // Registered again by the check: its record becomes durable with the next
                // sync, like everything before it.
                c.pos.wrote(reregistered, at);
            }
        }
        tm.cursors.entry(Reader::Shared).or_insert(CursorModel {
            pos: Persisted::at(o),
            exists: Existence::Durable,
        });
    }
}
