//! [`Unavailable`]: why io_uring cannot be used here.

use std::io;

/// io_uring cannot be used on this system, and why.
///
/// Returned by [`crate::UringBackend::probe`]. `reason` is a sentence for a log or an
/// error message (for example "io_uring is disabled by the sysctl
/// kernel.io_uring_disabled=2"); `source` is the operating system's error, when there was
/// one, which neither `reason` nor `Display` repeats. Converting it into an [`io::Error`] keeps the source's kind, or
/// [`io::ErrorKind::Unsupported`] without a source.
#[derive(Debug, thiserror::Error)]
#[error("io_uring is unavailable: {reason}")]
#[non_exhaustive]
pub struct Unavailable {
    /// What failed, in words.
    pub reason: String,
    /// The operating system's error, if the kernel refused something.
    #[source]
    pub source: Option<io::Error>,
}

impl Unavailable {
    pub(crate) fn new(reason: impl Into<String>, source: Option<io::Error>) -> Self {
        Self {
            reason: reason.into(),
            source,
        }
    }

    /// The kind of the underlying error, or [`io::ErrorKind::Unsupported`] when there is
    /// none (a forced failure, an opcode the kernel lacks, a platform without io_uring).
    pub fn kind(&self) -> io::ErrorKind {
        self.source
            .as_ref()
            .map_or(io::ErrorKind::Unsupported, io::Error::kind)
    }
}

impl From<Unavailable> for io::Error {
    fn from(err: Unavailable) -> Self {
        io::Error::new(err.kind(), err)
    }
}
