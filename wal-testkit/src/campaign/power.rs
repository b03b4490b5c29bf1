//! The fault injector's power switch, in one place: cutting the power after a number of
//! mutating calls, and asking whether it is off.

use crate::faulty::{FaultPlan, FaultyBackend};

/// Cuts the power after `after` more mutating calls (at once for 0), keeping the faults
/// `plan` arms.
pub(crate) fn arm(backend: &FaultyBackend, plan: FaultPlan, after: u64) {
    let now = backend.counts().mutations;
    backend.set_plan(plan.power_off_after(now + after));
}

/// No cut planned any more (after a crash, which turned the power back on), and no fault.
pub(crate) fn disarm(backend: &FaultyBackend, seed: u64) {
    backend.set_plan(FaultPlan::seeded(seed));
}

/// `true` once the planned cut happened: every call fails until the next crash.
pub(crate) fn is_off(backend: &FaultyBackend) -> bool {
    backend.is_powered_off()
}
