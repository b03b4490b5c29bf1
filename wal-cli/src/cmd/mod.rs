//! One module per command; each has a `run` that returns the exit status.

pub mod append;
pub mod completions;
pub mod consumers;
pub mod dump;
pub mod reclaim;
pub mod repair;
pub mod stats;
pub mod tail;
pub mod truncate;
pub mod verify;
