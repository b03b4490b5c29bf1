//! Tracing spans that say which log an event belongs to.
//!
//! Every open log has one span, `wal` (INFO) with the field `dir`, created when it opens,
//! with no parent. The work a log does on its own is inside it:
//!
//! | span | level | around |
//! |---|---|---|
//! | `wal.open` | INFO | opening: locking the directory, recovery, starting the thread (has `dir` itself: the log's span does not exist yet) |
//! | `wal.flush` | DEBUG | one flush, by the flush leader only: write what is pending, sync |
//! | `wal.reclaim` | DEBUG | one pass deleting old segments |
//! | `wal.rollover` | DEBUG | starting the next segment |
//! | `wal.close` | DEBUG | close or drop: final flush, releasing the directory |
//! | `wal.round` | DEBUG | one round of the background thread, which runs inside `wal` for its whole life |
//!
//! The operation spans are children of the log's span, not of the caller's current span:
//! a flush serves every writer queued behind it (group commit), not only the thread that
//! happens to lead it. When an operation span is disabled (a filter at INFO), the log's
//! span is entered in its place, so events inside still carry `dir`.
//!
//! Cost: nothing per append. A flush creates and enters one span (or enters the log's);
//! with no subscriber that is a few atomic loads.

use std::path::Path;

use tracing::span::EnteredSpan;
use tracing::Span;

use crate::shared::Shared;

/// The span of the log in `dir`: the parent of everything the log does on its own.
pub(crate) fn log_span(dir: &Path) -> Span {
    tracing::info_span!(parent: None, "wal", dir = %dir.display())
}

/// The span around opening the log in `dir`, a child of the caller's span.
pub(crate) fn open_span(dir: &Path) -> Span {
    tracing::info_span!("wal.open", dir = %dir.display())
}

impl Shared {
    /// The log's span (see the module documentation).
    pub(crate) fn log_span(&self) -> &Span {
        &self.env.obs.span
    }

    /// Enters `span`, an operation span whose parent is the log's span, or the log's
    /// span itself when `span` is disabled: either way, events until the guard drops
    /// carry the log's directory.
    pub(crate) fn enter(&self, span: Span) -> EnteredSpan {
        if span.is_disabled() {
            self.log_span().clone().entered()
        } else {
            span.entered()
        }
    }
}
