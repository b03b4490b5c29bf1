//! How entries and sizes are printed.

use wal::inspect::EntryInfo;

/// The payload as an escaped string when it is printable UTF-8 (no control characters
/// other than tab, line feed and carriage return), else `None`.
pub fn printable(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .then_some(text)
}

/// Lowercase hex digits of `data`.
pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// One entry as a line of text:
/// `topic:offset size=N segment=ID position=P "text"` or `... hex 00ff`.
pub fn entry_line(topic: &str, e: &EntryInfo) -> String {
    let payload = match printable(&e.data) {
        Some(text) => format!("\"{}\"", text.escape_debug()),
        None => format!("hex {}", hex(&e.data)),
    };
    format!(
        "{topic}:{} size={} segment={} position={} {payload}",
        e.offset,
        e.data.len(),
        e.segment,
        e.position
    )
}

/// One entry as a JSON object on one line: `topic`, `offset`, `size`, `segment`,
/// `position`, and `data` (printable text) or `hex`.
pub fn entry_json(topic: &str, e: &EntryInfo) -> String {
    use serde_json::Value;
    // Written by hand to keep the fields in this order (a `serde_json::Map` sorts them).
    let (key, value) = match printable(&e.data) {
        Some(text) => ("data", text.to_owned()),
        None => ("hex", hex(&e.data)),
    };
    format!(
        r#"{{"topic":{},"offset":{},"size":{},"segment":{},"position":{},"{key}":{}}}"#,
        Value::from(topic),
        e.offset,
        e.data.len(),
        e.segment,
        e.position,
        Value::from(value)
    )
}

/// One entry in the chosen format.
pub fn entry(topic: &str, e: &EntryInfo, json: bool) -> String {
    if json {
        entry_json(topic, e)
    } else {
        entry_line(topic, e)
    }
}

/// `1 entry`, `2 entries`.
pub fn entries(n: u64) -> String {
    format!("{n} entr{}", if n == 1 { "y" } else { "ies" })
}

/// A byte count for people: `512 B`, `1.5 KiB`, `64.0 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(data: &[u8]) -> EntryInfo {
        EntryInfo {
            offset: 3,
            segment: 1,
            position: 64,
            data: data.to_vec(),
        }
    }

    #[test]
    fn text_is_escaped_and_binary_is_hex() {
        assert_eq!(
            entry_line("t", &info(b"a \"b\"\n")),
            r#"t:3 size=6 segment=1 position=64 "a \"b\"\n""#
        );
        assert_eq!(
            entry_line("t", &info(&[0, 255, 16])),
            "t:3 size=3 segment=1 position=64 hex 00ff10"
        );
        assert_eq!(
            entry_line("t", &info(b"")),
            r#"t:3 size=0 segment=1 position=64 """#
        );
        assert_eq!(printable("é\t".as_bytes()), Some("é\t"));
        assert_eq!(printable(b"\x1b[31m"), None);
    }

    #[test]
    fn json_has_data_or_hex() {
        let v: serde_json::Value = serde_json::from_str(&entry_json("t", &info(b"hi"))).unwrap();
        assert_eq!(v["data"], "hi");
        assert_eq!(v["size"], 2);
        let v: serde_json::Value = serde_json::from_str(&entry_json("t", &info(&[1, 2]))).unwrap();
        assert_eq!(v["hex"], "0102");
        assert!(v.get("data").is_none());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
    }
}
