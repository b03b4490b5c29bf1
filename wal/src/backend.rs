//! Choosing the storage backend: by name, by cargo feature, and by what the kernel allows.

use std::fmt;
use std::sync::Arc;

use wal_backend_std::StdBackend;
use wal_core::{BackendInfo, BackendSource, Error, Result};

use crate::StorageBackend;

/// Which storage backend a log uses ([`crate::WalBuilder::backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring when compiled in (feature `uring`) and allowed by the kernel, else std.
    #[default]
    Auto,
    /// Portable `std::fs` positional I/O and `sync_data`. Always compiled in.
    Std,
    /// `memmap2` mappings, msync of dirty ranges (feature `mmap`).
    Mmap,
    /// io_uring batched fsyncs (feature `uring`, Linux). Falls back to std, with the reason
    /// in [`BackendInfo`], when the kernel refuses io_uring.
    Uring,
}

impl Backend {
    /// The backend's name, as [`BackendInfo`] and the logs report it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Std => "std",
            Self::Mmap => "mmap",
            Self::Uring => "uring",
        }
    }

    /// `true` if this build can use the backend (its cargo feature is on).
    pub fn is_compiled_in(self) -> bool {
        match self {
            Self::Auto | Self::Std => true,
            Self::Mmap => cfg!(feature = "mmap"),
            Self::Uring => cfg!(feature = "uring"),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to probe io_uring: the default, or a forced failure for tests.
#[derive(Debug, Clone, Default)]
struct UringProbe {
    /// When set, the probe fails with this reason without asking the kernel.
    force_unavailable: Option<String>,
}

/// The facade's backend source: a built-in [`Backend`] chosen by name (default
/// [`Backend::Auto`]), resolved by cargo feature and run-time probe when the log opens.
/// [`crate::Wal`] and [`crate::WalBuilder`] are the engine's types with this source.
#[derive(Debug, Clone, Default)]
pub struct BuiltIn {
    backend: Backend,
    probe: UringProbe,
}

impl BackendSource for BuiltIn {
    type Choice = Backend;

    fn choose(&mut self, choice: Backend) {
        self.backend = choice;
    }

    fn resolve(&self) -> Result<(Arc<dyn StorageBackend>, BackendInfo)> {
        resolve(self.backend, &self.probe)
    }
}

/// Testing the io_uring fallback without a kernel that refuses io_uring.
pub trait SimulateUringRefusal {
    /// Makes the io_uring probe fail with `reason`, as a kernel that refuses io_uring
    /// would. Affects only this builder.
    fn simulate_uring_unavailable(self, reason: impl Into<String>) -> Self;
}

impl SimulateUringRefusal for crate::WalBuilder {
    fn simulate_uring_unavailable(self, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        self.with_source(|s| s.probe.force_unavailable = Some(reason))
    }
}

/// Resolves a [`Backend`] into a backend object and the report of the choice.
fn resolve(
    requested: Backend,
    probe: &UringProbe,
) -> Result<(Arc<dyn StorageBackend>, BackendInfo)> {
    let info = |active: &str, reason: Option<String>| BackendInfo {
        requested: requested.name().to_owned(),
        active: active.to_owned(),
        fallback_reason: reason,
    };
    if !requested.is_compiled_in() {
        return Err(Error::Config(format!(
            "the {requested} backend is not compiled in: enable the `{requested}` feature of the `wal` crate"
        )));
    }
    match requested {
        Backend::Std => Ok((Arc::new(StdBackend::default()), info("std", None))),
        Backend::Mmap => Ok((mmap(), info("mmap", None))),
        Backend::Uring | Backend::Auto => match uring(probe) {
            Ok(backend) => Ok((backend, info("uring", None))),
            Err(reason) => {
                if requested == Backend::Uring || cfg!(feature = "uring") {
                    tracing::warn!(%reason, "io_uring is unavailable; using the std backend");
                }
                Ok((Arc::new(StdBackend::default()), info("std", Some(reason))))
            }
        },
    }
}

#[cfg(feature = "mmap")]
fn mmap() -> Arc<dyn StorageBackend> {
    Arc::new(wal_backend_mmap::MmapBackend::default())
}

#[cfg(not(feature = "mmap"))]
fn mmap() -> Arc<dyn StorageBackend> {
    // `resolve` refuses Mmap before calling this when the feature is off.
    Arc::new(StdBackend::default())
}

#[cfg(feature = "uring")]
fn uring(probe: &UringProbe) -> Result<Arc<dyn StorageBackend>, String> {
    let options = wal_backend_uring::ProbeOptions {
        force_unavailable: probe.force_unavailable.clone(),
        ..Default::default()
    };
    match wal_backend_uring::UringBackend::probe_with(options) {
        Ok(b) => Ok(Arc::new(b)),
        Err(e) => Err(match std::error::Error::source(&e) {
            // `Unavailable` leaves the OS error to `source`; the reason names both.
            Some(os) => format!("{e}: {os}"),
            None => e.to_string(),
        }),
    }
}

#[cfg(not(feature = "uring"))]
fn uring(_probe: &UringProbe) -> Result<Arc<dyn StorageBackend>, String> {
    Err("io_uring support is not compiled in (feature `uring`)".into())
}
