//! The two ways the store waits without blocking the async runtime.

use crate::error::{Error, Result};
use crate::Log;

/// Runs `f`, which may wait for I/O, on tokio's blocking pool when called inside a tokio
/// runtime (openraft's default `TokioRuntime`), and inline otherwise.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::Task(e.to_string()))?,
        Err(_) => f(),
    }
}

/// Resolves once everything written to `log` before the call is durable. No thread
/// waits: the log's flusher completes a oneshot, and many of these share one sync.
pub(crate) async fn durable(log: &Log) -> Result<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    log.on_durable(move |result| {
        if tx.send(result).is_err() {
            tracing::debug!("a durability wait was dropped before the log reported");
        }
    });
    rx.await
        .map_err(|_| Error::NotNotified)?
        .map_err(Error::from)
}
