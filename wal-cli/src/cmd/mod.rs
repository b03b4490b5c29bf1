//! One module per command; each has a `run` that returns the exit status.

pub mod append;
pub mod dump;
pub mod repair;
pub mod stats;
pub mod tail;
pub mod verify;
