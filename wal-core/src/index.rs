//! Where the entries of one run (one topic's entries in one segment) live, compactly.
//!
//! The index is in memory for every retained entry, so its size per entry is what a log
//! of small entries costs in RAM: a position takes 4 bytes, and a payload length is kept
//! once for the run while every entry has the same length (fixed-size entries, the common
//! case) and per entry from the first entry that differs. A run is shrunk to its length
//! when the topic moves on to the next segment, so only the newest run has spare capacity.

/// The positions and payload lengths of a run's entries, in offset order.
#[derive(Debug, Default)]
pub(crate) struct RunLocs {
    pos: Vec<u32>,
    lens: Lens,
}

/// Payload lengths: one for all, or one per entry.
#[derive(Debug)]
enum Lens {
    Same(u32),
    Each(Vec<u32>),
}

impl Default for Lens {
    fn default() -> Self {
        Lens::Same(0)
    }
}

impl RunLocs {
    /// Entries in the run.
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// The position and payload length of entry `i` of the run.
    pub fn get(&self, i: usize) -> Option<(u32, u32)> {
        let pos = *self.pos.get(i)?;
        let len = match &self.lens {
            Lens::Same(len) => *len,
            Lens::Each(lens) => lens[i],
        };
        Some((pos, len))
    }

    /// Adds the next entry.
    pub fn push(&mut self, pos: u32, len: u32) {
        match &mut self.lens {
            Lens::Same(same) if self.pos.is_empty() => *same = len,
            Lens::Same(same) if *same == len => {}
            Lens::Same(same) => {
                let mut lens = Vec::with_capacity(self.pos.capacity());
                lens.resize(self.pos.len(), *same);
                lens.push(len);
                self.lens = Lens::Each(lens);
            }
            Lens::Each(lens) => lens.push(len),
        }
        self.pos.push(pos);
    }

    /// Forgets the first `n` entries.
    pub fn drain_front(&mut self, n: usize) {
        let n = n.min(self.pos.len());
        self.pos.drain(..n);
        if let Lens::Each(lens) = &mut self.lens {
            lens.drain(..n);
        }
    }

    /// Keeps only the first `n` entries (a suffix truncation).
    pub fn truncate(&mut self, n: usize) {
        self.pos.truncate(n);
        if let Lens::Each(lens) = &mut self.lens {
            lens.truncate(n);
        }
    }

    /// Gives back spare capacity: the run gets no more entries.
    pub fn shrink(&mut self) {
        self.pos.shrink_to_fit();
        if let Lens::Each(lens) = &mut self.lens {
            lens.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_lengths_are_kept_once_and_a_different_one_splits_them_out() {
        let mut r = RunLocs::default();
        assert_eq!(r.get(0), None);
        for i in 0..100u32 {
            r.push(i * 48, 16);
        }
        assert!(matches!(r.lens, Lens::Same(16)));
        r.push(4800, 7);
        r.push(4824, 16);
        assert_eq!(r.len(), 102);
        assert_eq!(r.get(0), Some((0, 16)));
        assert_eq!(r.get(99), Some((99 * 48, 16)));
        assert_eq!(r.get(100), Some((4800, 7)));
        assert_eq!(r.get(101), Some((4824, 16)));
        assert_eq!(r.get(102), None);
        r.drain_front(100);
        assert_eq!(r.len(), 2);
        assert_eq!(r.get(0), Some((4800, 7)));
        r.shrink();
        assert_eq!(r.get(1), Some((4824, 16)));
        assert_eq!(r.pos.capacity(), 2);
    }

    #[test]
    fn draining_a_uniform_run_keeps_its_length() {
        let mut r = RunLocs::default();
        for i in 0..10u32 {
            r.push(i * 40, 9);
        }
        r.drain_front(20);
        assert_eq!(r.len(), 0);
        r.push(400, 9);
        assert_eq!(r.get(0), Some((400, 9)));
    }

    #[test]
    fn truncating_keeps_the_front_and_takes_new_entries() {
        let mut r = RunLocs::default();
        for i in 0..5u32 {
            r.push(i * 40, 9 + i % 2);
        }
        r.truncate(2);
        assert_eq!(r.len(), 2);
        assert_eq!(r.get(1), Some((40, 10)));
        assert_eq!(r.get(2), None);
        r.push(1000, 3);
        assert_eq!(r.get(2), Some((1000, 3)));
        r.truncate(0);
        r.push(2000, 7);
        assert_eq!((r.len(), r.get(0)), (1, Some((2000, 7))));
    }
}
