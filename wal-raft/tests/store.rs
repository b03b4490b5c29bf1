//! What openraft's suite does not test: reopening, cutting a log in the middle, purging
//! past the end, the first index, several groups in one log, and failures.

mod common;

use std::sync::mpsc;
use std::sync::Arc;

use common::{blank, log_id, normal, run, Cfg};
use openraft::storage::{RaftLogReaderExt, RaftLogStorage, RaftLogStorageExt};
use openraft::{RaftLogId, RaftLogReader, Vote};
use wal::{FsyncSchedule, Wal};
use wal_raft::{Error, WalLogStore};
use wal_testkit::faulty::{FaultPlan, FaultyBackend};

type Store = WalLogStore<Cfg>;

/// `(term, index, payload)` of every entry the store returns for `0..`.
async fn contents(store: &mut Store) -> Vec<(u64, u64, String)> {
    let got = store.try_get_log_entries(0..).await.unwrap();
    got.into_iter()
        .map(|e| {
            let data = match e.payload {
                openraft::EntryPayload::Normal(s) => s,
                _ => String::new(),
            };
            (e.log_id.leader_id.term, e.log_id.index, data)
        })
        .collect()
}

fn entries(term: u64, range: std::ops::Range<u64>) -> Vec<openraft::Entry<Cfg>> {
    range
        .map(|i| normal(term, i, &format!("t{term}-{i}")))
        .collect()
}

fn expected(term: u64, range: std::ops::Range<u64>) -> Vec<(u64, u64, String)> {
    range.map(|i| (term, i, format!("t{term}-{i}"))).collect()
}

#[test]
fn reopen_keeps_the_vote_committed_last_purged_and_last_log_id() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(entries(1, 0..10)).await.unwrap();
        store.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
        store.save_committed(Some(log_id(1, 7))).await.unwrap();
        store.purge(log_id(1, 4)).await.unwrap();
    });
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(Vote::new_committed(3, 1))
        );
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 7)));
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
        assert_eq!(state.last_log_id, Some(log_id(1, 9)));
        assert_eq!(contents(&mut store).await, expected(1, 5..10));
        assert_eq!(store.get_log_id(9).await.unwrap(), log_id(1, 9));
        assert!(store.get_log_id(4).await.is_err(), "a purged entry is gone");
    });
}

#[test]
fn truncate_in_the_middle_then_append_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(entries(1, 0..10)).await.unwrap();
        store.truncate(log_id(1, 6)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(1, 5)));
        assert_eq!(contents(&mut store).await, expected(1, 0..6));
        store.blocking_append(entries(2, 6..9)).await.unwrap();
    });
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        let mut want = expected(1, 0..6);
        want.extend(expected(2, 6..9));
        assert_eq!(contents(&mut store).await, want);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(
            (state.last_purged_log_id, state.last_log_id),
            (None, Some(log_id(2, 8)))
        );
        // The cut entries never come back, and the log goes on from the new end.
        store.blocking_append(entries(2, 9..10)).await.unwrap();
        assert_eq!(store.get_log_id(9).await.unwrap(), log_id(2, 9));
    });
}

#[test]
fn truncate_everything_then_start_again_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(entries(1, 0..4)).await.unwrap();
        store.truncate(log_id(1, 0)).await.unwrap();
        assert_eq!(store.get_log_state().await.unwrap().last_log_id, None);
        store.blocking_append(entries(2, 0..2)).await.unwrap();
    });
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(contents(&mut store).await, expected(2, 0..2));
    });
}

#[test]
fn purge_past_the_end_then_append() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(entries(1, 0..5)).await.unwrap();
        store.purge(log_id(1, 20)).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 20)));
        assert_eq!(state.last_log_id, Some(log_id(1, 20)));
        assert!(contents(&mut store).await.is_empty());
        store.blocking_append(entries(2, 21..24)).await.unwrap();
        assert_eq!(contents(&mut store).await, expected(2, 21..24));
    });
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 20)));
        assert_eq!(state.last_log_id, Some(log_id(2, 23)));
        assert_eq!(contents(&mut store).await, expected(2, 21..24));
        // An append that would leave a hole after the purge point is refused.
        let hole = store.blocking_append(entries(2, 30..31)).await;
        assert!(hole.is_err());
    });
}

#[test]
fn index_0_first() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append([blank(0, 0)]).await.unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(0, 0)));
        let got = store.try_get_log_entries(0..1).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(*got[0].get_log_id(), log_id(0, 0));
    });
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(0, 0))
        );
    });
}

#[test]
fn a_fresh_log_may_start_at_index_1_and_holes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        store.blocking_append(entries(1, 1..3)).await.unwrap();
        assert_eq!(contents(&mut store).await, expected(1, 1..3));
        assert!(store.try_get_log_entry(0).await.unwrap().is_none());
        let gap = store.append_with_callback(entries(1, 5..6), |_| {});
        assert!(matches!(
            gap,
            Err(Error::NotContiguous {
                expected: 3,
                got: 5,
                ..
            })
        ));
        let overwrite = store.append_with_callback(entries(2, 1..2), |_| {});
        assert!(matches!(
            overwrite,
            Err(Error::NotContiguous {
                expected: 3,
                got: 1,
                ..
            })
        ));
        let inner_gap = store.append_with_callback([blank(1, 3), blank(1, 5)], |_| {});
        assert!(matches!(
            inner_gap,
            Err(Error::NotContiguous {
                expected: 4,
                got: 5,
                ..
            })
        ));
        assert_eq!(contents(&mut store).await, expected(1, 1..3));
    });
}

#[test]
fn limited_reads_return_at_least_one_entry_and_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let mut store = Store::open(dir.path()).unwrap();
        let big = "x".repeat(1 << 20);
        let batch: Vec<_> = (0..6).map(|i| normal(1, i, &big)).collect();
        store.blocking_append(batch).await.unwrap();
        let got = store.limited_get_log_entries(0, 6).await.unwrap();
        assert!(!got.is_empty() && got.len() < 6, "got {}", got.len());
        assert_eq!(got[0].log_id.index, 0);
        let all = store.try_get_log_entries(..).await.unwrap();
        assert_eq!(all.len(), 6);
    });
}

#[test]
fn two_groups_in_one_log_are_independent() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let wal = Wal::builder()
            .dir(dir.path())
            .fsync(FsyncSchedule::NoFsync)
            .open()
            .unwrap();
        let wal = Arc::new(wal);
        (
            Store::with_wal(wal.clone(), "group-a").unwrap(),
            Store::with_wal(wal, "group-b").unwrap(),
        )
    };
    run(async {
        let (mut a, mut b) = open();
        a.blocking_append(entries(1, 0..6)).await.unwrap();
        b.blocking_append(entries(7, 0..3)).await.unwrap();
        a.save_vote(&Vote::new(1, 1)).await.unwrap();
        b.save_vote(&Vote::new(7, 2)).await.unwrap();
        a.purge(log_id(1, 2)).await.unwrap();
        b.truncate(log_id(7, 1)).await.unwrap();
        b.blocking_append(entries(8, 1..4)).await.unwrap();
    });
    run(async {
        let (mut a, mut b) = open();
        assert_eq!(a.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
        assert_eq!(b.read_vote().await.unwrap(), Some(Vote::new(7, 2)));
        assert_eq!(contents(&mut a).await, expected(1, 3..6));
        let mut want_b = expected(7, 0..1);
        want_b.extend(expected(8, 1..4));
        assert_eq!(contents(&mut b).await, want_b);
        assert_eq!(
            a.get_log_state().await.unwrap().last_purged_log_id,
            Some(log_id(1, 2))
        );
        assert_eq!(b.get_log_state().await.unwrap().last_purged_log_id, None);
    });
}

#[test]
fn a_log_that_syncs_every_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::builder()
        .dir(dir.path())
        .fsync(FsyncSchedule::SyncEach)
        .open()
        .unwrap();
    assert!(matches!(
        Store::with_wal(Arc::new(wal), "g"),
        Err(Error::SyncEach)
    ));
}

/// `append` only buffers: with the power already off it still returns `Ok`, and the
/// failed sync reaches its callback; `save_vote`, which must be durable, fails.
#[test]
fn append_returns_before_the_sync_and_a_failed_sync_reaches_the_callback() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = FaultyBackend::new(Arc::new(wal::StdBackend::default()), FaultPlan::seeded(1));
    let wal = Wal::builder()
        .dir(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .custom_backend(Arc::new(faulty.clone()))
        .open()
        .unwrap();
    run(async {
        let mut store = Store::with_wal(Arc::new(wal), "g").unwrap();
        store.blocking_append(entries(1, 0..3)).await.unwrap();
        let syncs = faulty.counts().syncs;
        faulty.set_plan(FaultPlan::seeded(1).power_off_after(faulty.counts().mutations));
        let (tx, rx) = mpsc::channel();
        store
            .append_with_callback(entries(1, 3..5), move |r| tx.send(r).unwrap())
            .unwrap();
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 4)),
            "append returned with the entries in the log's buffer"
        );
        let flushed = tokio::task::spawn_blocking(move || rx.recv().unwrap())
            .await
            .unwrap();
        assert!(flushed.is_err(), "the callback reports the failed sync");
        assert!(store.save_vote(&Vote::new(2, 1)).await.is_err());
        assert_eq!(
            faulty.counts().syncs,
            syncs,
            "no sync succeeded with the power off"
        );
    });
}

/// `WalLogStore` docs: an `append` beyond the log's batch limits is split into several
/// batches rather than refused, and every entry is kept, in order.
#[test]
fn an_append_beyond_the_batch_limit_is_split_and_kept_whole() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::builder()
        .dir(dir.path())
        .fsync(FsyncSchedule::NoFsync)
        .max_batch_entries(4)
        .open()
        .unwrap();
    run(async {
        let mut store = Store::with_wal(Arc::new(wal), "g").unwrap();
        store.blocking_append(entries(1, 0..10)).await.unwrap();
        assert_eq!(contents(&mut store).await, expected(1, 0..10));
        assert_eq!(
            store.get_log_state().await.unwrap().last_log_id,
            Some(log_id(1, 9))
        );
    });
}
