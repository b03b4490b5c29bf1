//! The fault injector's power switch, in one place: cutting the power after a number of
//! mutating calls, asking whether it is off, and the crash modes a campaign cycles through.

use crate::faulty::{CrashMode, FaultPlan, FaultyBackend};

/// Every crash mode, in the order a campaign cycles through them.
pub const ALL_CRASH_MODES: &[CrashMode] = &[
    CrashMode::DropUnsynced,
    CrashMode::KeepRandomPrefix,
    CrashMode::TearLastSector,
];

/// Cuts the power after `after` more mutating calls.
pub(crate) fn arm(backend: &FaultyBackend, seed: u64, after: u64) {
    // TODO(faulty): FaultPlan::power_off_after once branch `faulty` is merged.
    let _ = after;
    backend.set_plan(FaultPlan::seeded(seed));
}

/// Turns the power back on with no cut planned (after a crash).
pub(crate) fn disarm(backend: &FaultyBackend, seed: u64) {
    backend.set_plan(FaultPlan::seeded(seed));
}

/// `true` once the planned cut happened (every call fails until the next crash).
pub(crate) fn is_off(_backend: &FaultyBackend) -> bool {
    false
}
