//! An io_uring storage backend for the `wal` write-ahead log on Linux: **planned, not
//! implemented yet** (tracked in the issue "Backends").
//!
//! The intent is a `wal_core::Backend` whose `wal_core::Flusher` submits the fsyncs of many
//! segment files in one io_uring submission. Until then this crate exports nothing; use
//! `wal-backend-std` instead.
