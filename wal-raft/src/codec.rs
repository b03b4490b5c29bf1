//! How entries, votes and log ids become bytes in the log: postcard.
//!
//! Why postcard: a Raft log is mostly small entries, so the encoding's overhead is paid
//! per entry. postcard writes integers as varints and no field names: a blank entry is a
//! handful of bytes and a `Vec<u8>` payload costs its length plus one or two bytes (JSON
//! would spell every byte as a decimal number, about 3.5 bytes each). Its wire format is
//! stable since 1.0, so what one version wrote the next reads. The price: it is not
//! self-describing, so an application's request type must not rely on serde features
//! that need one (`#[serde(untagged)]`, `#[serde(flatten)]`, `skip_serializing_if`);
//! openraft's own types use none of them.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Encodes `value`; `what` and `group` name it in the error.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, what: &str, group: &str) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|source| Error::Codec {
        what: what.to_owned(),
        group: group.to_owned(),
        source,
    })
}

/// Decodes bytes written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str, group: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|source| Error::Codec {
        what: what.to_owned(),
        group: group.to_owned(),
        source,
    })
}
