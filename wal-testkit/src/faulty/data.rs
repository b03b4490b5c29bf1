//! Unsynced file data: what each file's writes since its last sync overwrote, and what a
//! power loss does to those bytes.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io;
use std::ops::Range;

use wal_core::Storage;

use super::{FileId, Rng};

/// The unit a kernel writes back: dirty pages reach the disk in any order.
const PAGE: u64 = 4096;
/// The unit a disk writes atomically: a page may be torn between sectors.
const SECTOR: usize = 512;

/// One unsynced write: where, and the bytes it overwrote.
#[derive(Debug)]
pub(super) struct Undo {
    offset: u64,
    old: Vec<u8>,
}

impl Undo {
    fn end(&self) -> u64 {
        self.offset + self.old.len() as u64
    }
}

/// The unsynced writes of every file, in write order per file. Reverting a file's writes
/// in reverse order restores its durable content byte for byte, even where writes overlap.
#[derive(Debug, Default)]
pub(super) struct Unsynced {
    // Ordered, so that a crash draws its random numbers in the same order every run.
    files: BTreeMap<FileId, Vec<Undo>>,
}

impl Unsynced {
    /// `file` was written at `offset`, over `old`.
    pub(super) fn record(&mut self, file: FileId, offset: u64, old: Vec<u8>) {
        self.files
            .entry(file)
            .or_default()
            .push(Undo { offset, old });
    }

    /// A sync of `file` succeeded: all of it (`None`) or the bytes in `range` are durable.
    /// The parts of earlier writes outside `range` stay unsynced.
    pub(super) fn synced(&mut self, file: FileId, range: Option<Range<u64>>) {
        let Some(undos) = self.files.get_mut(&file) else {
            return;
        };
        let Some(r) = range else {
            undos.clear();
            return;
        };
        let mut kept = Vec::with_capacity(undos.len());
        for u in undos.drain(..) {
            if u.end() <= r.start || u.offset >= r.end {
                kept.push(u);
                continue;
            }
            if u.offset < r.start {
                let n = (r.start - u.offset) as usize;
                kept.push(Undo {
                    offset: u.offset,
                    old: u.old[..n].to_vec(),
                });
            }
            if u.end() > r.end {
                let n = (r.end - u.offset) as usize;
                kept.push(Undo {
                    offset: r.end,
                    old: u.old[n..].to_vec(),
                });
            }
        }
        *undos = kept;
    }

    /// Every file's unsynced writes, leaving none: a crash decides their fate.
    pub(super) fn take(&mut self) -> BTreeMap<FileId, Vec<Undo>> {
        std::mem::take(&mut self.files)
    }
}

/// What one crash does to unsynced data.
#[derive(Debug, Clone, Copy)]
pub(super) enum Loss {
    /// Every unsynced byte reverts.
    Drop,
    /// A random prefix, in write order, survives.
    Prefix,
    /// Everything survives but the last sector of the last write, which is garbage.
    TearLast,
    /// Each dirty page survives, reverts, or is torn, as the odds say.
    Pages(PageOdds),
}

/// The odds of one crash for each dirty page; what is left of `1 - keep - torn` is the
/// chance that the page reverts whole.
#[derive(Debug, Clone, Copy)]
pub(super) struct PageOdds {
    /// The page survives whole.
    pub(super) keep: f64,
    /// The page is torn: each of its sectors survives or reverts on its own.
    pub(super) torn: f64,
    /// In a torn page, the chance that a sector survives.
    pub(super) sector_keep: f64,
}

/// Reverts what a crash loses of one file's unsynced writes (in write order); returns the
/// number of bytes reverted or garbled.
pub(super) fn crash_file(
    rng: &mut Rng,
    file: &dyn Storage,
    undos: &[Undo],
    loss: Loss,
) -> io::Result<u64> {
    match loss {
        Loss::Drop => revert_after(file, undos, 0),
        Loss::Prefix => {
            let total: u64 = undos.iter().map(|u| u.old.len() as u64).sum();
            revert_after(file, undos, rng.next() % (total + 1))
        }
        Loss::TearLast => tear_last_sector(rng, file, undos),
        Loss::Pages(odds) => crash_pages(rng, file, undos, odds),
    }
}

/// Reverts every unsynced byte after the first `keep` in write order.
fn revert_after(file: &dyn Storage, undos: &[Undo], keep: u64) -> io::Result<u64> {
    let total: u64 = undos.iter().map(|u| u.old.len() as u64).sum();
    // Undo in reverse write order, so that overlapping writes restore the oldest bytes.
    let mut end = total;
    for u in undos.iter().rev() {
        let start = end - u.old.len() as u64;
        if keep < end {
            let from = keep.saturating_sub(start) as usize;
            file.write_at(u.offset + from as u64, &u.old[from..])?;
        }
        end = start;
    }
    Ok(total - keep.min(total))
}

fn tear_last_sector(rng: &mut Rng, file: &dyn Storage, undos: &[Undo]) -> io::Result<u64> {
    let Some(last) = undos.iter().rev().find(|u| !u.old.is_empty()) else {
        return Ok(0);
    };
    let sector = (last.end() - 1) & !(SECTOR as u64 - 1);
    let from = sector.max(last.offset);
    let garbage: Vec<u8> = (from..last.end()).map(|_| rng.next() as u8).collect();
    file.write_at(from, &garbage)?;
    Ok(garbage.len() as u64)
}

/// One dirty page: its bytes now, and its durable bytes (what it reverts to).
struct Page {
    new: Vec<u8>,
    old: Vec<u8>,
}

/// Decides each dirty page (and in torn pages each sector) on its own.
fn crash_pages(
    rng: &mut Rng,
    file: &dyn Storage,
    undos: &[Undo],
    odds: PageOdds,
) -> io::Result<u64> {
    let len = file.len()?;
    let mut pages: BTreeMap<u64, Page> = BTreeMap::new();
    for u in undos {
        for p in pages_of(u) {
            if let Entry::Vacant(slot) = pages.entry(p) {
                let start = p * PAGE;
                let mut new = vec![0u8; PAGE.min(len.saturating_sub(start)) as usize];
                let got = file.read_at(start, &mut new)?;
                new.truncate(got);
                slot.insert(Page {
                    old: new.clone(),
                    new,
                });
            }
        }
    }
    // Reverse write order, as in `revert_after`: the oldest bytes win.
    for u in undos.iter().rev() {
        for p in pages_of(u) {
            let Some(page) = pages.get_mut(&p) else {
                continue;
            };
            let base = p * PAGE;
            let start = u.offset.max(base);
            let end = u.end().min(base + page.old.len() as u64);
            if start < end {
                page.old[(start - base) as usize..(end - base) as usize].copy_from_slice(
                    &u.old[(start - u.offset) as usize..(end - u.offset) as usize],
                );
            }
        }
    }
    let mut lost = 0;
    for (p, page) in &pages {
        let roll = rng.fraction();
        let reverted: Vec<Range<usize>> = if roll < odds.keep {
            continue;
        } else if roll < odds.keep + odds.torn {
            (0..page.old.len())
                .step_by(SECTOR)
                .map(|s| s..(s + SECTOR).min(page.old.len()))
                .filter(|_| !rng.chance(odds.sector_keep))
                .collect()
        } else {
            std::iter::once(0..page.old.len()).collect()
        };
        for r in reverted {
            let (old, new) = (&page.old[r.clone()], &page.new[r.clone()]);
            if old != new {
                file.write_at(p * PAGE + r.start as u64, old)?;
                lost += old.iter().zip(new).filter(|(o, n)| o != n).count() as u64;
            }
        }
    }
    Ok(lost)
}

/// The numbers of the pages a write touched.
fn pages_of(u: &Undo) -> Range<u64> {
    if u.old.is_empty() {
        return 0..0;
    }
    u.offset / PAGE..(u.end() - 1) / PAGE + 1
}
