//! Test support for `wal` storage backends, including your own.
//!
//! The heart of the crate is a conformance suite for the storage level: the properties every
//! [`wal_core::Backend`] and its [`wal_core::Storage`] objects must have for the engine to
//! be correct (creation size and zero fill, positional round trips at odd offsets, short
//! reads at the end of the file, durability across reopen, refusal to overwrite an existing
//! file, concurrent writers, per-request flush results, removal and directory sync).
//!
//! Each property is an ordinary function in [`conformance`] that takes a backend and panics
//! with a message naming the broken property. The [`storage_conformance_tests!`] macro turns
//! them into one `#[test]` per property, so a backend crate runs the whole suite with one
//! line in `tests/conformance.rs`:
//!
//! ```
//! wal_testkit::storage_conformance_tests!(wal_backend_std::StdBackend::default());
//! # fn main() {}
//! ```
//!
//! The expression is evaluated afresh in every test, and each test works in its own
//! temporary directory, so the tests can run in parallel.
//!
//! The helpers [`read_exact_at`], [`pattern`] and [`assert_bytes_eq`] are public for
//! backend-specific tests.

use std::io;

use wal_core::Storage;

pub mod campaign;
pub mod conformance;
pub mod crash;
pub mod faulty;
pub mod logdir;
pub mod mutate;

/// Expands to a module `storage_conformance` with one `#[test]` per storage property.
///
/// `$make_backend` is an expression whose value implements [`wal_core::Backend`] (for
/// example `wal_backend_std::StdBackend::default()`, or an `Arc<dyn Backend>`). It is
/// evaluated once per test. Names visible where the macro is invoked are visible to the
/// expression. Invoke the macro at most once per module.
///
/// Each test calls the function of the same name in [`conformance`]; see there for what
/// each property checks.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make_backend:expr) => {
        $crate::storage_conformance_tests!(
            @tests $make_backend;
            create_has_len_and_reads_zeroes,
            round_trip_odd_offsets,
            read_past_end_is_short,
            sync_then_reopen_keeps_data,
            len_is_correct,
            create_existing_fails_and_keeps_data,
            concurrent_writers_distinct_ranges,
            flusher_reports_each_request_in_order,
            flusher_reports_a_failing_member_alone,
            remove_then_sync_dir_deletes_file,
            sync_dir_after_create,
            zeros_from_is_never_below_data,
        );
    };
    (@tests $make_backend:expr; $($property:ident),+ $(,)?) => {
        mod storage_conformance {
            #[allow(unused_imports)] // Only there so that `$make_backend` can name local items.
            use super::*;

            $(
                #[test]
                fn $property() {
                    let backend = $make_backend;
                    $crate::conformance::$property(&backend);
                }
            )+
        }
    };
}

/// Reads exactly `len` bytes at `offset` with a single [`Storage::read_at`] call.
///
/// `read_at` must fill the buffer unless the end of the file is reached, so a short read is
/// reported as [`io::ErrorKind::UnexpectedEof`] naming the offset and both counts.
pub fn read_exact_at(storage: &dyn Storage, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let n = storage.read_at(offset, &mut buf)?;
    if n != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("short read at offset {offset}: got {n} of {len} bytes"),
        ));
    }
    Ok(buf)
}

/// A deterministic pseudo-random byte pattern of `len` bytes for `seed`.
///
/// No byte is zero, so written data can never be mistaken for unwritten (zero) space, and
/// different seeds give different patterns, so misplaced writes are caught.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    // xorshift64; the state must never be zero.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // `x % 255` is below 255, so the byte is in 1..=255 and the cast is lossless.
            (x % 255 + 1) as u8
        })
        .collect()
}

/// Asserts that `actual` equals `expected`, reporting the length or the first differing
/// bytes instead of dumping whole buffers. `what` names the property and the check, and
/// starts the panic message.
#[track_caller]
pub fn assert_bytes_eq(actual: &[u8], expected: &[u8], what: &str) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{what}: got {} bytes, expected {}",
        actual.len(),
        expected.len()
    );
    if let Some(first) = actual.iter().zip(expected).position(|(a, e)| a != e) {
        let end = (first + 16).min(actual.len());
        assert_eq!(
            &actual[first..end],
            &expected[first..end],
            "{what}: bytes differ from index {first} (showing up to 16 bytes)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_nonzero_and_seed_dependent() {
        let a = pattern(1, 4097);
        assert_eq!(a, pattern(1, 4097), "same seed, same pattern");
        assert_ne!(a, pattern(2, 4097), "different seeds, different patterns");
        assert!(a.iter().all(|&b| b != 0), "pattern bytes are never zero");
    }

    #[test]
    #[should_panic(expected = "bytes differ from index 3")]
    fn assert_bytes_eq_names_the_first_difference() {
        assert_bytes_eq(&[1, 2, 3, 4, 5], &[1, 2, 3, 9, 5], "example");
    }

    #[test]
    #[should_panic(expected = "got 2 bytes, expected 3")]
    fn assert_bytes_eq_checks_the_length() {
        assert_bytes_eq(&[1, 2], &[1, 2, 3], "example");
    }
}
