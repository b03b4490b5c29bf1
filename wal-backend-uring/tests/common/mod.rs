//! Helpers shared by the integration tests of `wal-backend-uring`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io;
use std::path::Path;
use std::sync::Arc;

use wal_backend_uring::{ProbeOptions, UringBackend};
use wal_core::{Backend, FlushRequest, Storage};

/// Probes io_uring with `options`. When it is unavailable, says so on stderr and returns
/// `None`, so that the calling test can return early instead of failing on a machine
/// (a container, an old kernel) that has no io_uring.
pub fn probe_or_skip_with(options: ProbeOptions) -> Option<UringBackend> {
    match UringBackend::probe_with(options) {
        Ok(backend) => Some(backend),
        Err(unavailable) => {
            eprintln!("io_uring unavailable: {}; skipping", unavailable.reason);
            None
        }
    }
}

/// [`probe_or_skip_with`] with the default options.
pub fn probe_or_skip() -> Option<UringBackend> {
    probe_or_skip_with(ProbeOptions::default())
}

/// Creates a 64 KiB file `name` in `dir`, writes `data` at `offset` and returns a request
/// for the dirty range.
pub fn dirty_file(
    backend: &dyn Backend,
    dir: &Path,
    name: &str,
    offset: u64,
    data: &[u8],
) -> io::Result<FlushRequest> {
    let storage: Arc<dyn Storage> = backend.create(&dir.join(name), 64 << 10)?;
    storage.write_at(offset, data)?;
    Ok(FlushRequest {
        storage,
        dirty: offset..offset + data.len() as u64,
    })
}
