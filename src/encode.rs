//! Turning chunks of lines into output bytes, appended to one batch buffer.
//! raw writes lines exactly as read; json writes one object a line with
//! `path`, `offset` and `line` (RFC 8259 escaping, invalid UTF-8 replaced by
//! U+FFFD). No I/O here.

use memchr::memchr_iter;

use crate::config::Format;
use crate::lines::Chunk;

/// Encodes chunks for one file. Built once per file: the json prefix with the
/// escaped path is computed here, not per line.
#[derive(Clone, Debug)]
pub struct Encoder {
    format: Format,
    /// `{"path":"...","offset":` for json.
    prefix: Vec<u8>,
}

impl Encoder {
    pub fn new(format: Format, path: &[u8]) -> Encoder {
        let mut prefix = Vec::with_capacity(path.len() + 24);
        if format == Format::Json {
            prefix.extend_from_slice(b"{\"path\":\"");
            escape_lossy(path, &mut prefix);
            prefix.extend_from_slice(b"\",\"offset\":");
        }
        Encoder { format, prefix }
    }

    /// Whether lines go out exactly as read.
    pub fn is_raw(&self) -> bool {
        self.format == Format::Raw
    }

    /// Appends the encoding of `chunk` to `out` and returns how many lines
    /// (or pieces) it held.
    pub fn encode(&self, chunk: Chunk, out: &mut Vec<u8>) -> u64 {
        match (self.format, chunk) {
            (Format::Raw, Chunk::Lines { bytes, .. }) => {
                out.extend_from_slice(bytes);
                memchr_iter(b'\n', bytes).count() as u64
            }
            (Format::Raw, Chunk::Piece { bytes, .. }) => {
                out.extend_from_slice(bytes);
                out.push(b'\n');
                1
            }
            (Format::Json, Chunk::Lines { offset, bytes }) => {
                let mut start = 0;
                let mut count = 0;
                for end in memchr_iter(b'\n', bytes) {
                    self.json_line(offset + start as u64, &bytes[start..end], out);
                    start = end + 1;
                    count += 1;
                }
                count
            }
            (Format::Json, Chunk::Piece { offset, bytes }) => {
                self.json_line(offset, bytes, out);
                1
            }
        }
    }

    fn json_line(&self, offset: u64, line: &[u8], out: &mut Vec<u8>) {
        out.reserve(self.prefix.len() + line.len() + 32);
        out.extend_from_slice(&self.prefix);
        push_u64(offset, out);
        out.extend_from_slice(b",\"line\":\"");
        escape_lossy(line, out);
        out.extend_from_slice(b"\"}\n");
    }
}

/// Appends the decimal digits of `n`.
fn push_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Bytes that JSON strings cannot hold as they are: control characters, `"` and `\`.
const fn needs_escape_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
}
static NEEDS_ESCAPE: [bool; 256] = needs_escape_table();

/// Appends `bytes` as the inside of a JSON string: valid UTF-8 copied in runs,
/// each invalid sequence replaced by U+FFFD the way `String::from_utf8_lossy` does.
pub fn escape_lossy(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.utf8_chunks() {
        escape_str(chunk.valid().as_bytes(), out);
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Escapes valid UTF-8: runs of plain bytes are copied with one call.
fn escape_str(s: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(path: &[u8], chunk: Chunk) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let n = Encoder::new(Format::Json, path).encode(chunk, &mut out);
        let text = std::str::from_utf8(&out).expect("json output is UTF-8");
        let values: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line parses"))
            .collect();
        assert_eq!(values.len() as u64, n);
        assert!(out.ends_with(b"\n"));
        values
    }

    #[test]
    fn raw_is_byte_exact() {
        let enc = Encoder::new(Format::Raw, b"/x");
        let mut out = Vec::new();
        let n = enc.encode(
            Chunk::Lines {
                offset: 0,
                bytes: b"a\r\n\0\n\n",
            },
            &mut out,
        );
        assert_eq!(n, 3);
        enc.encode(
            Chunk::Piece {
                offset: 6,
                bytes: b"\xffpiece",
            },
            &mut out,
        );
        assert_eq!(out, b"a\r\n\0\n\n\xffpiece\n");
    }

    #[test]
    fn json_fields_and_offsets() {
        let v = json(
            b"/var/log/a \"b\".log",
            Chunk::Lines {
                offset: 10,
                bytes: b"one\r\n\ntab\there\n",
            },
        );
        assert_eq!(v.len(), 3);
        assert_eq!(v[0]["path"], "/var/log/a \"b\".log");
        assert_eq!(v[0]["offset"], 10);
        assert_eq!(v[0]["line"], "one\r");
        assert_eq!(v[1]["offset"], 15);
        assert_eq!(v[1]["line"], "");
        assert_eq!(v[2]["offset"], 16);
        assert_eq!(v[2]["line"], "tab\there");
        let v = json(
            b"/p\xff",
            Chunk::Piece {
                offset: u64::MAX,
                bytes: b"bad \xc3\x28 \xf0\x9f\x98\x80 \x01\x7f",
            },
        );
        assert_eq!(v[0]["path"], "/p\u{FFFD}");
        assert_eq!(v[0]["offset"], u64::MAX);
        assert_eq!(v[0]["line"], "bad \u{FFFD}( \u{1F600} \u{1}\u{7f}");
    }

    #[test]
    fn numbers() {
        for n in [0, 7, 10, 99, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            push_u64(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    proptest! {
        /// serde_json is the oracle: any bytes come back as their lossy UTF-8 text.
        #[test]
        fn json_escaping_matches_serde(line in proptest::collection::vec(any::<u8>(), 0..200), offset: u64) {
            let line: Vec<u8> = line.into_iter().filter(|&b| b != b'\n').collect();
            let v = json(b"/f", Chunk::Piece { offset, bytes: &line });
            prop_assert_eq!(v[0]["line"].as_str().unwrap(), String::from_utf8_lossy(&line));
            prop_assert_eq!(v[0]["offset"].as_u64().unwrap(), offset);
        }
    }
}
