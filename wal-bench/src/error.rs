//! The one error type of the benchmark crate.

use std::io;

/// Why a benchmark could not run or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call of the benchmark itself (or of a peer library) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Our log returned an error.
    #[error(transparent)]
    Wal(#[from] wal::Error),
    /// A worker process failed or printed no result.
    #[error("worker for {job} failed: {message}")]
    Worker {
        /// The job's label.
        job: String,
        /// What went wrong, with the worker's stderr.
        message: String,
    },
    /// A result did not check out (for example fewer entries read back than written).
    #[error("{0}")]
    Check(String),
    /// Settings that cannot be run.
    #[error("invalid settings: {0}")]
    Settings(String),
}

/// The benchmark crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to I/O results.
pub(crate) trait Context<T> {
    /// Wraps the error with what was being done.
    fn ctx(self, what: impl Into<String>) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Io {
            what: what.into(),
            source,
        })
    }
}
