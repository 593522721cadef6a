//! Turning chunks of lines into output bytes, appended to one batch buffer.
//! raw writes lines exactly as read; json writes one object a line with
//! `path`, `offset` and `line` (RFC 8259 escaping, invalid UTF-8 replaced by
//! U+FFFD). No I/O here.
//!
//! json is on the hot path of a catch-up: lines are scanned sixteen bytes at a
//! time for the bytes that need work, plain runs are copied whole, and UTF-8
//! is validated only from a line's first byte >= 0x80 on.

use memchr::{memchr, memchr_iter, memrchr};

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
        let mut prefix = Vec::new();
        if format == Format::Json {
            prefix.reserve(path.len() + 24);
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
                // Anything after the last newline is not a line.
                let bytes = match memrchr(b'\n', bytes) {
                    Some(last) => &bytes[..=last],
                    None => return 0,
                };
                // A newline is a control character, so the escaper finds the
                // end of each line itself: one pass over the bytes.
                let mut start = 0;
                let mut count = 0;
                while start < bytes.len() {
                    self.open_line(offset + start as u64, out);
                    start = escape_line(bytes, start, out) + 1;
                    out.extend_from_slice(b"\"}\n");
                    count += 1;
                }
                count
            }
            (Format::Json, Chunk::Piece { offset, bytes }) => {
                self.open_line(offset, out);
                escape_lossy(bytes, out);
                out.extend_from_slice(b"\"}\n");
                1
            }
        }
    }

    /// Appends everything of a json line up to the line's text.
    fn open_line(&self, offset: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        push_u64(offset, out);
        out.extend_from_slice(b",\"line\":\"");
    }
}

/// Appends the decimal digits of `n`, two at a time.
fn push_u64(mut n: u64, out: &mut Vec<u8>) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `bytes` as the inside of a JSON string, each invalid UTF-8 sequence
/// replaced by U+FFFD the way `String::from_utf8_lossy` does.
pub fn escape_lossy(bytes: &[u8], out: &mut Vec<u8>) {
    let ascii = escape_run::<false>(bytes, out);
    escape_non_ascii(&bytes[ascii..], out);
}

/// `escape_lossy` for what follows an ASCII start (so a char boundary): only
/// text with bytes >= 0x80 pays for UTF-8 validation.
fn escape_non_ascii(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.utf8_chunks() {
        escape_run::<true>(chunk.valid().as_bytes(), out);
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Escapes the line that starts at `start` up to its newline and returns the
/// newline's index. `bytes` must hold a newline at or after `start`.
fn escape_line(bytes: &[u8], mut start: usize, out: &mut Vec<u8>) -> usize {
    loop {
        let i = copy_plain::<false>(bytes, start, out);
        match bytes[i] {
            b'\n' => return i,
            0x80.. => {
                let end = i + memchr(b'\n', &bytes[i..]).expect("line ends in a newline");
                escape_non_ascii(&bytes[i..end], out);
                return end;
            }
            b => push_escape(b, out),
        }
        start = i + 1;
    }
}

/// Escapes `s`. With `HIGH` false it stops at the first byte >= 0x80 and
/// returns its index (or `s.len()`); with `HIGH` true `s` must be valid UTF-8
/// and all of it is done.
fn escape_run<const HIGH: bool>(s: &[u8], out: &mut Vec<u8>) -> usize {
    let mut start = 0;
    loop {
        let i = copy_plain::<HIGH>(s, start, out);
        match s.get(i) {
            None | Some(0x80..) => return i,
            Some(&b) => push_escape(b, out),
        }
        start = i + 1;
    }
}

/// Appends `s[from..]` up to the first byte that JSON cannot hold as it is (a
/// control character, `"` or `\`; with `HIGH` false also any byte >= 0x80)
/// and returns that byte's index, or `s.len()`.
#[inline(always)]
fn copy_plain<const HIGH: bool>(s: &[u8], from: usize, out: &mut Vec<u8>) -> usize {
    let mask = |word: &[u8]| special_mask::<HIGH>(u64::from_le_bytes(word.try_into().unwrap()));
    let first = |lo: u64, hi: u64| match lo {
        0 => 8 + hi.trailing_zeros() as usize / 8,
        _ => lo.trailing_zeros() as usize / 8,
    };
    // Two independent words a round (the compiler pairs them in one vector
    // register), one branch for both.
    let mut pairs = s[from..].chunks_exact(16);
    let mut end = s.len();
    for (n, pair) in pairs.by_ref().enumerate() {
        let (lo, hi) = (mask(&pair[..8]), mask(&pair[8..]));
        if lo | hi != 0 {
            end = from + n * 16 + first(lo, hi);
            out.extend_from_slice(&s[from..end]);
            return end;
        }
    }
    // The rest, padded with plain bytes to go through the same test.
    let tail = pairs.remainder();
    let mut pair = [b'a'; 16];
    pair[..tail.len()].copy_from_slice(tail);
    let (lo, hi) = (mask(&pair[..8]), mask(&pair[8..]));
    if lo | hi != 0 {
        end = s.len() - tail.len() + first(lo, hi);
    }
    out.extend_from_slice(&s[from..end]);
    end
}

/// Sets the top bit of each byte of `w` that `copy_plain` stops at.
///
/// A byte's top bit in `w - 0x20..` is set when it is below 0x20 (or 0xa0 and
/// up), in `(w ^ 0x22..) - 0x01..` when it is `"` (or some byte >= 0x80), and
/// likewise for `\`; masking with `!w` drops the bytes >= 0x80. A borrow out
/// of a byte happens only at a byte that is marked rightly, so it can mark
/// bytes above it wrongly but never below: the lowest mark (the first byte,
/// as the word is read little-endian) is exact.
#[inline(always)]
fn special_mask<const HIGH: bool>(w: u64) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    const TOPS: u64 = ONES * 0x80;
    let marks = w.wrapping_sub(ONES * 0x20)
        | (w ^ (ONES * b'"' as u64)).wrapping_sub(ONES)
        | (w ^ (ONES * b'\\' as u64)).wrapping_sub(ONES);
    if HIGH {
        marks & !w & TOPS
    } else {
        (marks | w) & TOPS
    }
}

/// Appends the escape for a control character, `"` or `\`.
#[inline(always)]
fn push_escape(b: u8, out: &mut Vec<u8>) {
    // Quotes are common in log lines; control characters are rare.
    if b == b'"' || b == b'\\' {
        out.extend_from_slice(&[b'\\', b]);
    } else {
        push_control(b, out);
    }
}

fn push_control(b: u8, out: &mut Vec<u8>) {
    match b {
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

    /// The plain per-char encoder the fast one must match byte for byte.
    fn reference(path: &[u8], chunk: Chunk) -> (Vec<u8>, u64) {
        fn escape(bytes: &[u8], out: &mut String) {
            for c in String::from_utf8_lossy(bytes).chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
        }
        let line = |offset: u64, bytes: &[u8], out: &mut String| {
            out.push_str("{\"path\":\"");
            escape(path, out);
            out.push_str(&format!("\",\"offset\":{offset},\"line\":\""));
            escape(bytes, out);
            out.push_str("\"}\n");
        };
        let mut out = String::new();
        let mut count = 0;
        match chunk {
            Chunk::Lines { offset, bytes } => {
                let mut start = 0;
                for (i, _) in bytes.iter().enumerate().filter(|&(_, &b)| b == b'\n') {
                    line(offset + start as u64, &bytes[start..i], &mut out);
                    start = i + 1;
                    count += 1;
                }
            }
            Chunk::Piece { offset, bytes } => {
                line(offset, bytes, &mut out);
                count = 1;
            }
        }
        (out.into_bytes(), count)
    }

    fn assert_matches_reference(path: &[u8], chunk: Chunk) {
        let mut out = b"batch so far\n".to_vec();
        let before = out.len();
        let n = Encoder::new(Format::Json, path).encode(chunk, &mut out);
        let (want, count) = reference(path, chunk);
        assert_eq!(n, count);
        // As text first, for a readable difference.
        let got = &out[before..];
        let text = String::from_utf8_lossy;
        assert_eq!(text(got), text(&want), "{chunk:?}");
        assert_eq!(got, want);
    }

    /// Mostly plain ASCII with the bytes the scanner must stop at, their
    /// neighbours, multibyte chars (some with bytes 0xa0, 0xa2 or 0xdc, which
    /// the word test masks out) and invalid sequences, at every distance from
    /// a word boundary.
    fn log_text() -> impl Strategy<Value = Vec<u8>> {
        const SPECIAL: &[&[u8]] = &[
            b"\xc2\xa0",
            b"\xc2\xa2",
            b"\xdc\x80",
            b"\"",
            b"\\",
            b"\n",
            b"\r",
            b"\t",
            b"\x08",
            b"\x0c",
            b"\0",
            b"\x1f",
            b"\x7f",
            b" ",
            b"!",
            b"#",
            b"[",
            b"]",
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xf0\x9f\x98\x80",
            b"\xff",
            b"\x80",
            b"\xc3",
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xc3\x28",
        ];
        proptest::collection::vec((0usize..20, 0..SPECIAL.len()), 0..12).prop_map(|parts| {
            let mut text = Vec::new();
            for (run, special) in parts {
                text.extend((0..run).map(|i| b'a' + (i % 26) as u8));
                text.extend_from_slice(SPECIAL[special]);
            }
            text
        })
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
        let powers = (0..20).map(|k| 10u64.pow(k));
        let near = powers.flat_map(|p| [p - 1, p, p + 1]);
        for n in near.chain([1234567890, u64::MAX - 1, u64::MAX]) {
            let mut out = b"x".to_vec();
            push_u64(n, &mut out);
            assert_eq!(out[1..], *n.to_string().as_bytes());
        }
    }

    #[test]
    fn every_byte_at_every_position() {
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut line = vec![b'x'; 40];
                line[at] = b;
                assert_matches_reference(
                    b"/f",
                    Chunk::Piece {
                        offset: 1,
                        bytes: &line,
                    },
                );
                line.push(b'\n');
                assert_matches_reference(
                    b"/f",
                    Chunk::Lines {
                        offset: 1,
                        bytes: &line,
                    },
                );
            }
        }
    }

    #[test]
    fn lines_ignore_bytes_after_the_last_newline() {
        assert_matches_reference(
            b"/f",
            Chunk::Lines {
                offset: 0,
                bytes: b"a\nb\nunfinished",
            },
        );
        assert_matches_reference(
            b"/f",
            Chunk::Lines {
                offset: 0,
                bytes: b"no newline",
            },
        );
        assert_matches_reference(
            b"/f",
            Chunk::Lines {
                offset: 0,
                bytes: b"",
            },
        );
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

        #[test]
        fn log_text_matches_serde(text in log_text(), offset: u64) {
            let text: Vec<u8> = text.into_iter().filter(|&b| b != b'\n').collect();
            let v = json(b"/f", Chunk::Piece { offset, bytes: &text });
            prop_assert_eq!(v[0]["line"].as_str().unwrap(), String::from_utf8_lossy(&text));
        }

        #[test]
        fn log_text_matches_reference(path in log_text(), text in log_text(), offset in 0..u64::MAX / 2) {
            assert_matches_reference(&path, Chunk::Piece { offset, bytes: &text });
            let mut lines = text;
            lines.push(b'\n');
            assert_matches_reference(&path, Chunk::Lines { offset, bytes: &lines });
        }
    }
}
