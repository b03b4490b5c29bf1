//! Per-topic numbers: offsets, entries appended, and each consumer's position and lag
//! ([`Wal::topic_stats`]).

use crate::lock::lock;
use crate::shared::Shared;
use crate::topic::{TopicState, SHARED_CURSOR};
use crate::wal::Wal;

/// Entries and payload bytes appended to one topic since the log was opened. Bumped once
/// per append call, under the `state` lock the append holds anyway.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TopicCounts {
    entries: u64,
    bytes: u64,
}

impl TopicCounts {
    /// `entries` entries of `bytes` payload bytes in all were appended.
    pub fn appended(&mut self, entries: u64, bytes: u64) {
        self.entries += entries;
        self.bytes += bytes;
    }
}

/// What one topic holds and how far its consumers are, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TopicStats {
    /// The topic's name.
    pub name: String,
    /// The oldest offset still retained (the next offset when nothing is).
    pub first_offset: u64,
    /// The offset the next append gets.
    pub next_offset: u64,
    /// The highest offset that is durable, if any.
    pub durable_offset: Option<u64>,
    /// Entries appended since the log was opened (a batch counts each entry).
    pub appended: u64,
    /// Payload bytes appended since the log was opened.
    pub appended_bytes: u64,
    /// Where the shared cursor of [`Wal::read_next`] stands: the offset it reads next.
    pub shared_position: u64,
    /// The named consumers ([`Wal::consumer`]), by name.
    pub consumers: Vec<ConsumerStats>,
}

/// One named consumer of a topic, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ConsumerStats {
    /// The consumer's name.
    pub name: String,
    /// The offset it reads next.
    pub position: u64,
    /// Entries it has not read yet: the topic's next offset minus its position.
    pub lag: u64,
}

impl TopicStats {
    fn of(t: &TopicState, durable_lsn: u64) -> Self {
        let next = t.next_offset;
        let consumers = t
            .cursors
            .iter()
            .filter(|(name, _)| name.as_str() != SHARED_CURSOR)
            .map(|(name, c)| ConsumerStats {
                name: name.clone(),
                position: c.cursor,
                lag: next.saturating_sub(c.cursor),
            })
            .collect();
        Self {
            name: t.name.clone(),
            first_offset: t.first_offset(),
            next_offset: next,
            durable_offset: t.durable_offset(durable_lsn),
            appended: t.counts().entries,
            appended_bytes: t.counts().bytes,
            shared_position: t.cursors.get(SHARED_CURSOR).map_or(next, |c| c.cursor),
            consumers,
        }
    }
}

impl Shared {
    /// The stats of every topic, in the order they were created. Holds the `state` lock
    /// for one pass over the topics and their consumers.
    pub(crate) fn all_topic_stats(&self) -> Vec<TopicStats> {
        let durable = self.pipeline.commit.durable_lsn();
        let st = lock(&self.state);
        st.topics
            .iter()
            .map(|t| TopicStats::of(t, durable))
            .collect()
    }
}

impl<S> Wal<S> {
    /// Offsets, entries appended, and every named consumer's position and lag for
    /// `topic`; `None` for an unknown topic.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wal_core::WalBuilder;
    ///
    /// # fn main() -> wal_core::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let wal = WalBuilder::new()
    ///     .dir(dir.path())
    ///     .backend(Arc::new(wal_backend_std::StdBackend::default()))
    ///     .open()?;
    /// wal.batch_append_for_topic("orders", &["a", "bc", "def"])?;
    /// wal.consumer("orders", "billing")?.seek(1)?;
    /// let s = wal.topic_stats("orders").unwrap();
    /// assert_eq!((s.first_offset, s.next_offset), (0, 3));
    /// assert_eq!((s.appended, s.appended_bytes), (3, 6));
    /// assert_eq!((s.consumers[0].name.as_str(), s.consumers[0].lag), ("billing", 2));
    /// # Ok(()) }
    /// ```
    pub fn topic_stats(&self, topic: &str) -> Option<TopicStats> {
        let durable = self.shared.pipeline.commit.durable_lsn();
        let st = lock(&self.shared.state);
        let id = st.topics.id(topic)?;
        Some(TopicStats::of(&st.topics[id], durable))
    }

    /// [`Wal::topic_stats`] of every topic, in the order they were created.
    pub fn all_topic_stats(&self) -> Vec<TopicStats> {
        self.shared.all_topic_stats()
    }
}
