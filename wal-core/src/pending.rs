//! The pending queue: encoded records waiting for the write phase.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::segment::ActiveSegment;
use crate::storage::Storage;

/// The segment a chunk goes to: what the write phase needs to know of it, carried along
/// so that writing takes no state lock.
#[derive(Debug)]
pub(crate) struct Target {
    /// The segment's id.
    pub id: u64,
    /// LSN of the segment's byte 0.
    pub base_lsn: u64,
    /// The segment's file.
    pub storage: Arc<dyn Storage>,
}

/// Encoded bytes waiting to be written at `pos` of one segment. It carries everything the
/// write phase needs, so writing takes no other lock.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub to: Target,
    pub pos: u64,
    pub bytes: Vec<u8>,
    /// The segment is complete after this chunk: the writer syncs it before it writes any
    /// later chunk, so a segment with data in it always follows fully durable ones.
    pub seal: bool,
}

impl Chunk {
    /// The position just past the chunk's bytes.
    pub fn end(&self) -> u64 {
        self.pos + self.bytes.len() as u64
    }

    /// The LSN just past the chunk's bytes.
    pub fn lsn_end(&self) -> u64 {
        self.to.base_lsn + self.end()
    }

    fn empty_at(seg: &ActiveSegment, bytes: Vec<u8>, seal: bool) -> Self {
        Self {
            to: Target {
                id: seg.id,
                base_lsn: seg.base_lsn,
                storage: seg.storage.clone(),
            },
            pos: seg.end,
            bytes,
            seal,
        }
    }
}

/// The queue of chunks not yet written, in append order, with their byte count and a few
/// written buffers kept for reuse (so the append path does not fault in fresh pages).
///
/// Invariants: the chunks are in append order, and within one segment each starts where
/// the previous one ends; `bytes` is the sum of their lengths plus those of the chunks the
/// write phase has taken and not yet written (so that a write in flight, or failing on a
/// full disk, still counts against `max_pending`).
#[derive(Debug, Default)]
pub(crate) struct PendingQueue {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    free: Vec<Vec<u8>>,
}

/// Written buffers kept for reuse.
const FREE_BUFFERS: usize = 4;

impl PendingQueue {
    /// Bytes appended and not yet written: queued, or taken by a write in flight.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Runs `encode` on the buffer of the chunk that ends where `seg`'s appended bytes end
    /// (a new chunk if the last one does not), counting what it adds.
    pub fn append(
        &mut self,
        seg: &ActiveSegment,
        capacity: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) {
        let reusable = matches!(self.chunks.back(),
            Some(c) if c.to.id == seg.id && !c.seal && c.end() == seg.end);
        if !reusable {
            let bytes = self.fresh_buffer(capacity, seg.capacity);
            self.chunks.push_back(Chunk::empty_at(seg, bytes, false));
        }
        let chunk = self.chunks.back_mut().expect("a chunk was just ensured");
        let before = chunk.bytes.len();
        encode(&mut chunk.bytes);
        self.bytes += chunk.bytes.len() - before;
    }

    /// Marks the end of `seg`: its last chunk (or an empty one) is a seal.
    pub fn seal(&mut self, seg: &ActiveSegment) {
        match self.chunks.back_mut() {
            Some(c) if c.to.id == seg.id && c.end() == seg.end => c.seal = true,
            _ => self
                .chunks
                .push_back(Chunk::empty_at(seg, Vec::new(), true)),
        }
    }

    /// Starts a new segment: an empty chunk at its current end, so that writing the queue
    /// moves the written LSN there even if nothing else is appended.
    pub fn start_segment(&mut self, seg: &ActiveSegment, capacity: usize) {
        let bytes = self.fresh_buffer(capacity, seg.capacity);
        self.chunks.push_back(Chunk::empty_at(seg, bytes, false));
    }

    /// Takes every chunk, for the write phase, which reports each as [`written`],
    /// [`dropped`] or puts it back with [`requeue_front`].
    ///
    /// [`written`]: PendingQueue::written
    /// [`dropped`]: PendingQueue::dropped
    /// [`requeue_front`]: PendingQueue::requeue_front
    pub fn take(&mut self) -> VecDeque<Chunk> {
        std::mem::take(&mut self.chunks)
    }

    /// Puts chunks the write phase could not write back at the front, ahead of anything
    /// queued since, so that chunks still reach storage in append order.
    pub fn requeue_front(&mut self, mut chunks: VecDeque<Chunk>) {
        chunks.extend(std::mem::take(&mut self.chunks));
        self.chunks = chunks;
    }

    /// Taken chunks of `len` bytes in all will never be written (the log is poisoned).
    pub fn dropped(&mut self, len: usize) {
        self.bytes -= len;
    }

    /// A taken chunk was written: its bytes no longer count, and its buffer is kept for
    /// reuse unless enough are kept or it grew larger than `max_capacity`.
    pub fn written(&mut self, bytes: Vec<u8>, max_capacity: usize) {
        self.bytes -= bytes.len();
        if self.free.len() < FREE_BUFFERS && bytes.capacity() <= max_capacity {
            self.free.push(bytes);
        }
    }

    /// An empty buffer for a new chunk: a written one reused if there is one. A chunk never
    /// holds more than one segment, whatever `capacity` (`write_buffer`) says.
    fn fresh_buffer(&mut self, capacity: usize, segment_capacity: u64) -> Vec<u8> {
        let mut bytes = self.free.pop().unwrap_or_default();
        bytes.clear();
        bytes.reserve(capacity.min(usize::try_from(segment_capacity).unwrap_or(usize::MAX)));
        bytes
    }
}
