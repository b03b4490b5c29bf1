//! Closing a log: the final flush, and the simulated crash used by tests.

use crate::error::Result;
use crate::format::RecordFields;
use crate::format::{record_size, RecordKind};
use crate::lock::lock;
use crate::wal::Wal;

impl<S> Wal<S> {
    /// Closes the log: persists cursors, writes and syncs everything pending, stops the
    /// background thread and releases the directory. Dropping the log does the same but
    /// can only log errors.
    ///
    /// ```
    /// # fn main() -> wal_core::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use wal_core::WalBuilder;
    ///
    /// let open = || {
    ///     WalBuilder::new()
    ///         .dir(dir.path())
    ///         .backend(std::sync::Arc::new(wal_backend_std::StdBackend::default()))
    ///         .open()
    /// };
    /// let wal = open()?;
    /// wal.append_for_topic("t", b"kept")?;
    /// wal.close()?; // flushed, synced, unlocked; errors are reported
    /// let wal = open()?;
    /// assert_eq!(wal.read_next("t", true)?.unwrap().data, b"kept");
    /// # Ok(()) }
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.shut_down(true)
    }

    /// Drops the log as a crash of the process would: nothing pending in memory is written,
    /// no cursor is persisted, nothing more is synced. What was already handed to the
    /// operating system stays. For crash tests; a real program calls [`Wal::close`].
    pub fn abandon(mut self) {
        if let Err(e) = self.shut_down(false) {
            tracing::debug!(error = %e, "abandoning the log");
        }
    }

    fn shut_down(&mut self, clean: bool) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let _span = shared.enter(tracing::debug_span!(parent: shared.log_span(), "wal.close"));
        self.shutdown();
        if !self.shared.signals.doorbell.ring_shutdown() {
            tracing::debug!("the background thread had already stopped");
        }
        if thread.join().is_err() {
            tracing::error!("the background flush thread panicked");
        }
        let result = if clean { self.final_flush() } else { Ok(()) };
        self.shared.seal();
        if let Some(file) = self.lock_file.take() {
            if let Err(e) = file.unlock() {
                tracing::warn!(error = %e, "could not unlock the log directory; closing the file releases it");
            }
        }
        result
    }

    /// Persists moved cursors, syncs everything, then writes a sync mark and syncs it, so
    /// that recovery can tell damage to any earlier record from a torn tail.
    fn final_flush(&self) -> Result<()> {
        let shared = &self.shared;
        shared.check_poison()?;
        let moved: Vec<(u32, String, u64)> = {
            let st = lock(&shared.state);
            st.topics
                .iter()
                .flat_map(|t| {
                    t.cursors
                        .iter()
                        .filter(|(_, c)| c.cursor != c.persisted)
                        .map(|(name, c)| (t.id, name.clone(), c.cursor))
                })
                .collect()
        };
        for (id, name, cursor) in moved {
            shared.append_cursor(id, &name, cursor)?;
        }
        let lsn = lock(&shared.state).lsn_end();
        shared.wait_durable_lsn(lsn)?;
        let mark_lsn = {
            let mut st = lock(&shared.state);
            if st.active.end + record_size(0) as u64 > st.active.capacity {
                drop(st);
                return shared.discard_spare();
            }
            let synced = st.synced_in_active(lsn);
            st.encode(
                RecordFields::new(RecordKind::SyncMark, 0, 0).with_synced(synced),
                &[],
                0,
            );
            st.lsn_end()
        };
        shared.wait_durable_lsn(mark_lsn)?;
        shared.discard_spare()
    }
}

impl<S> Drop for Wal<S> {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down(true) {
            tracing::error!(error = %e, dir = %self.shared.env.dir.display(), "closing the log failed");
        }
    }
}
