//! openraft's own storage test suite (`openraft::testing::Suite`), run whole as openraft
//! intends, and each of its 35 cases as a test of its own, so that one failure does not
//! hide the others.

mod common;

use common::{run, Builder, Cfg, MemSm};
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;
use wal_raft::WalLogStore;

type S = Suite<Cfg, WalLogStore<Cfg>, MemSm, Builder, TempDir>;

/// The suite as openraft runs it: every case in turn, each on a runtime of its own.
#[test]
fn openraft_suite_test_all() {
    S::test_all(Builder).unwrap();
}

/// One `#[test]` per case of `Suite::test_store` (openraft 0.9.25), in its order.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod case {
            use super::*;
            $(
                #[test]
                fn $case() {
                    run(async {
                        let (_dir, store, sm) = Builder.build().await?;
                        S::$case(store, sm).await
                    })
                    .unwrap();
                }
            )*
        }
    };
}

cases!(
    last_membership_in_log_initial,
    last_membership_in_log,
    last_membership_in_log_multi_step,
    get_membership_initial,
    get_membership_from_log_and_empty_sm,
    get_membership_from_empty_log_and_sm,
    get_membership_from_log_le_sm_last_applied,
    get_membership_from_log_gt_sm_last_applied_1,
    get_membership_from_log_gt_sm_last_applied_2,
    get_initial_state_without_init,
    get_initial_state_membership_from_log_and_sm,
    get_initial_state_with_state,
    get_initial_state_last_log_gt_sm,
    get_initial_state_last_log_lt_sm,
    get_initial_state_log_ids,
    get_initial_state_re_apply_committed,
    save_vote,
    get_log_entries,
    limited_get_log_entries,
    try_get_log_entry,
    initial_logs,
    get_log_state,
    get_log_id,
    last_id_in_log,
    last_applied_state,
    purge_logs_upto_0,
    purge_logs_upto_5,
    purge_logs_upto_20,
    delete_logs_since_11,
    delete_logs_since_0,
    append_to_log,
    snapshot_meta,
    apply_single,
    apply_multiple,
);

/// The 35th case takes the builder, not a store.
#[test]
fn transfer_snapshot() {
    run(S::transfer_snapshot(&Builder)).unwrap();
}
