//! Byte sizes on the command line: `65536`, `64KiB`, `4k`, `1MiB`, `1 GiB`, `10MB`.
//!
//! One parser for every option that takes a size, so that they all accept the same forms.
//! As with `dd`, a bare letter and the `iB` forms are powers of 1024, and the `B` forms
//! (`KB`, `MB`, ...) are powers of 1000.

/// Parses a byte size: digits, optional spaces, and an optional unit (case-insensitive):
/// `B`; `k`, `KiB`, `KB`; `m`, `MiB`, `MB`; `g`, `GiB`, `GB`; `t`, `TiB`, `TB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a size: expected a number of bytes, optionally with a unit, \
             as in 65536, 64KiB, 4k or 1MiB"
        ));
    }
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is too large a size"))?;
    let multiplier = unit_multiplier(unit.trim_start()).ok_or_else(|| {
        format!(
            "unknown unit {:?} in {text:?}: use B, k/KiB, m/MiB, g/GiB, t/TiB (powers of \
             1024) or KB, MB, GB, TB (powers of 1000)",
            unit.trim_start()
        )
    })?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large a size"))
}

fn unit_multiplier(unit: &str) -> Option<u64> {
    let unit = unit.to_ascii_lowercase();
    let (letter, rest) = match unit.chars().next() {
        None => return Some(1),
        Some(c) => (c, &unit[c.len_utf8()..]),
    };
    if letter == 'b' && rest.is_empty() {
        return Some(1);
    }
    let power = match letter {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        _ => return None,
    };
    let base: u64 = match rest {
        "" | "ib" => 1024,
        "b" => 1000,
        _ => return None,
    };
    Some(base.pow(power))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn plain_numbers_and_binary_and_decimal_units() {
        for (text, bytes) in [
            ("0", 0),
            ("65536", 65536),
            ("512B", 512),
            ("4k", 4096),
            ("4K", 4096),
            ("64KiB", 64 << 10),
            ("64kib", 64 << 10),
            ("1MiB", 1 << 20),
            ("1m", 1 << 20),
            ("1 MiB", 1 << 20),
            (" 2GiB ", 2 << 30),
            ("1t", 1 << 40),
            ("10KB", 10_000),
            ("10MB", 10_000_000),
            ("1GB", 1_000_000_000),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        for text in ["", "MiB", "-1", "1.5MiB", "1 XB", "1KiBB", "1Mi", "1 k b"] {
            let err = parse_size(text).unwrap_err();
            assert!(
                err.contains("not a size") || err.contains("unknown unit"),
                "{text:?}: {err}"
            );
        }
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_size("17179869184GiB")
            .unwrap_err()
            .contains("too large"));
    }
}
