//! A memory-mapped storage backend for the `wal` write-ahead log: **planned, not
//! implemented yet** (tracked in the issue "Backends").
//!
//! The intent is a `wal_core::Backend` whose storages map segment files into memory, write
//! with plain copies and make ranges durable with `msync` through
//! `wal_core::Storage::sync_range`. Until then this crate exports nothing; use
//! `wal-backend-std` instead.
