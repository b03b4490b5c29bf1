//! The log's poison: the first failure after which nothing it wrote can be trusted.

use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};

/// Set once, by the first failed sync, failed write (other than a full disk), failed
/// directory sync after creating a segment, or panicking backend call. Never cleared: the
/// log must be reopened, which runs recovery against what is really on disk.
#[derive(Debug, Default)]
pub(crate) struct Poison {
    cause: OnceLock<Arc<Error>>,
}

impl Poison {
    /// Fails with [`Error::Poisoned`] once set.
    pub fn check(&self) -> Result<()> {
        match self.cause.get() {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The failure that poisoned the log, once set.
    pub fn cause(&self) -> Option<Arc<Error>> {
        self.cause.get().cloned()
    }

    /// `true` once set.
    pub fn is_set(&self) -> bool {
        self.cause.get().is_some()
    }

    /// Records `err` as the cause, unless one is recorded already (the first one wins);
    /// returns the cause in force, and whether this call recorded it.
    pub fn set(&self, err: Error) -> (Arc<Error>, bool) {
        let mut first = false;
        let cause = self.cause.get_or_init(|| {
            first = true;
            Arc::new(err)
        });
        (cause.clone(), first)
    }
}
