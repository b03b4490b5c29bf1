//! Where a log's storage backend comes from: [`BackendSource`], and what a log reports
//! about its choice ([`BackendInfo`]).
//!
//! The engine's own source, [`Explicit`], takes a backend object. The `wal` facade crate
//! has one that chooses among the built-in backends by cargo feature and run-time probe;
//! its `Wal` and `WalBuilder` are this crate's types with that source, so every method and
//! its documentation live in one place.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::storage::Backend;

/// Which backend was asked for, which one is in use, and why they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// What the builder asked for (`"custom"` for a backend object given directly).
    pub requested: String,
    /// The backend in use (its [`Backend::name`]).
    pub active: String,
    /// Why the backend in use is not the one asked for (or, for an automatic choice, why
    /// it is not the preferred one), if there is a reason to tell.
    pub fallback_reason: Option<String>,
}

impl BackendInfo {
    /// The report for a backend object given directly.
    pub fn custom(backend: &dyn Backend) -> Self {
        Self {
            requested: "custom".into(),
            active: backend.name().to_owned(),
            fallback_reason: None,
        }
    }
}

/// Chooses the storage backend when a log is opened.
///
/// [`crate::WalBuilder::backend`] takes a [`BackendSource::Choice`] and hands it to
/// [`BackendSource::choose`]; [`crate::WalBuilder::open`] calls
/// [`BackendSource::resolve`], unless a backend object was given with
/// [`crate::WalBuilder::custom_backend`].
pub trait BackendSource: Clone + Default + fmt::Debug + Send + Sync + 'static {
    /// What the builder's `backend` setter takes.
    type Choice;

    /// Records a choice.
    fn choose(&mut self, choice: Self::Choice);

    /// The backend to open the log with, and the report of the choice.
    fn resolve(&self) -> Result<(Arc<dyn Backend>, BackendInfo)>;
}

/// The engine's own backend source: the backend object must be given.
#[derive(Debug, Clone, Default)]
pub struct Explicit {
    backend: Option<Arc<dyn Backend>>,
}

impl BackendSource for Explicit {
    type Choice = Arc<dyn Backend>;

    fn choose(&mut self, choice: Arc<dyn Backend>) {
        self.backend = Some(choice);
    }

    fn resolve(&self) -> Result<(Arc<dyn Backend>, BackendInfo)> {
        let backend = self.backend.clone().ok_or_else(|| {
            Error::Config("no backend: call `.backend(..)` (the `wal` crate picks one)".into())
        })?;
        let info = BackendInfo::custom(&*backend);
        Ok((backend, info))
    }
}
