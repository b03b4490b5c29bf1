//! What the tests share: a type config, an in-memory state machine for openraft's suite,
//! and a builder of stores in temporary directories.

#![allow(dead_code)] // each test file uses a part

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::testing::StoreBuilder;
use openraft::{
    EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use tempfile::TempDir;
use wal_raft::WalLogStore;

openraft::declare_raft_types!(
    /// The type config of the tests: string requests and responses.
    pub Cfg: D = String, R = String
);

/// A log id of leader `(term, node 0)`, as openraft's suite builds them.
pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    openraft::testing::log_id(term, 0, index)
}

/// A blank entry.
pub fn blank(term: u64, index: u64) -> openraft::Entry<Cfg> {
    openraft::testing::blank_ent::<Cfg>(term, 0, index)
}

/// An entry carrying `data`.
pub fn normal(term: u64, index: u64, data: &str) -> openraft::Entry<Cfg> {
    openraft::Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(data.to_owned()),
    }
}

/// What the state machine holds.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct SmData {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, openraft::BasicNode>,
    applied: Vec<String>,
}

#[derive(Debug, Default)]
struct SmInner {
    data: SmData,
    snapshot: Option<(SnapshotMeta<u64, openraft::BasicNode>, Vec<u8>)>,
    built: u64,
}

/// An in-memory state machine that records the requests applied, with snapshots.
#[derive(Debug, Default, Clone)]
pub struct MemSm(Arc<Mutex<SmInner>>);

impl MemSm {
    fn inner(&self) -> std::sync::MutexGuard<'_, SmInner> {
        self.0.lock().unwrap()
    }
}

impl RaftSnapshotBuilder<Cfg> for MemSm {
    async fn build_snapshot(&mut self) -> Result<Snapshot<Cfg>, StorageError<u64>> {
        let mut inner = self.inner();
        inner.built += 1;
        let bytes = postcard::to_stdvec(&inner.data)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let meta = SnapshotMeta {
            last_log_id: inner.data.last_applied,
            last_membership: inner.data.membership.clone(),
            snapshot_id: format!("snapshot-{}", inner.built),
        };
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<Cfg> for MemSm {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<
        (
            Option<LogId<u64>>,
            StoredMembership<u64, openraft::BasicNode>,
        ),
        StorageError<u64>,
    > {
        let inner = self.inner();
        Ok((inner.data.last_applied, inner.data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<String>, StorageError<u64>>
    where
        I: IntoIterator<Item = openraft::Entry<Cfg>> + Send,
    {
        let mut inner = self.inner();
        let mut out = Vec::new();
        for e in entries {
            inner.data.last_applied = Some(e.log_id);
            match e.payload {
                EntryPayload::Blank => out.push(String::new()),
                EntryPayload::Normal(s) => {
                    inner.data.applied.push(s.clone());
                    out.push(s);
                }
                EntryPayload::Membership(m) => {
                    inner.data.membership = StoredMembership::new(Some(e.log_id), m);
                    out.push(String::new());
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let bytes = snapshot.into_inner();
        let data: SmData = postcard::from_bytes(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let mut inner = self.inner();
        inner.data = data;
        inner.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<Cfg>>, StorageError<u64>> {
        Ok(self.inner().snapshot.clone().map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

/// Builds a store in a fresh temporary directory (kept while the guard lives).
pub struct Builder;

impl StoreBuilder<Cfg, WalLogStore<Cfg>, MemSm, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, WalLogStore<Cfg>, MemSm), StorageError<u64>> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let store = WalLogStore::open(dir.path()).map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, store, MemSm::default()))
    }
}

/// Runs `fut` on a runtime of its own, as openraft's suite runs each case.
pub fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(fut)
}
