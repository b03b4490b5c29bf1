//! The engine's integration suite. Each `wal/tests/backend_*.rs` target compiles it once
//! for its backend (defining `configure` and `raw_backend` at its root), so a backend
//! cannot pass its own unit tests and still break the log.

pub mod common;

mod api;
mod bad_input;
mod concurrency;
mod consumer_admin;
mod consumers;
mod doc_claims;
mod durability_modes;
mod errors;
mod faults;
mod global_order;
mod group_commit;
mod isolation;
mod metadata;
mod observability;
mod on_durable;
mod overhead;
mod reads;
mod recovery;
mod review;
mod rustdoc_claims;
mod truncation;
