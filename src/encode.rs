//! Turning chunks of lines into output bytes, appended to one batch buffer.
//! raw writes lines exactly as read; json writes one object a line,
//! `{"time":…,"host":…,<fields>…,"path":…,"offset":…,"line":…}` (RFC 8259
//! escaping, invalid UTF-8 replaced by U+FFFD). No I/O here.
//!
//! json is on the hot path of a catch-up. All but `offset` and `line` is the
//! same for every line of one read, so it is encoded ahead: the host and the
//! static fields when the settings are made (`Shared`), the path once per
//! file (`Encoder`), the time once per read (`Shared::set_time`); a chunk's
//! first record copies those in and each further line copies that record's
//! head. Lines are scanned sixteen bytes at a time for the bytes that need
//! work, plain runs are copied whole, and UTF-8 is validated only from a
//! line's first byte >= 0x80 on.

use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use memchr::{memchr, memchr_iter, memrchr};

use crate::lines::Chunk;
use crate::settings::Format;

/// Bytes of a `time` value: `2026-12-02T17:50:22.123Z`, always this wide, so
/// a record's length does not depend on when it was read.
pub const TIME_LEN: usize = 24;

/// Where the time sits in `Shared::bytes`.
const TIME_AT: usize = b"{\"time\":\"".len();

/// The start of every json record of one read, the same for all files:
/// `{"time":"…","host":"…",` and the static fields, each `"key":"value",`.
/// Built when the settings are made; the time is written in place per read.
#[derive(Clone, Debug)]
pub struct Shared {
    bytes: Vec<u8>,
}

impl Shared {
    /// The start of records for `host` and `fields` (in that order), with
    /// the time of the epoch until `set_time` says otherwise.
    pub fn new<K: AsRef<[u8]>, V: AsRef<[u8]>>(host: &[u8], fields: &[(K, V)]) -> Shared {
        let mut bytes = b"{\"time\":\"".to_vec();
        bytes.extend_from_slice(&rfc3339_millis(UNIX_EPOCH));
        bytes.extend_from_slice(b"\",\"host\":\"");
        escape_lossy(host, &mut bytes);
        for (key, value) in fields {
            bytes.extend_from_slice(b"\",\"");
            escape_lossy(key.as_ref(), &mut bytes);
            bytes.extend_from_slice(b"\":\"");
            escape_lossy(value.as_ref(), &mut bytes);
        }
        bytes.extend_from_slice(b"\",");
        Shared { bytes }
    }

    /// The lines about to be encoded were read at `t`.
    pub fn set_time(&mut self, t: SystemTime) {
        self.bytes[TIME_AT..TIME_AT + TIME_LEN].copy_from_slice(&rfc3339_millis(t));
    }

    /// Its length, the same whatever the time: records made with two
    /// `Shared` of one length have the same lengths.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Encodes chunks for one file. Built once per file: the json prefix with the
/// escaped path is computed here, not per line.
#[derive(Clone, Debug)]
pub struct Encoder {
    format: Format,
    /// `"path":"...","offset":` for json, what follows `Shared`.
    prefix: Vec<u8>,
}

impl Encoder {
    pub fn new(format: Format, path: &[u8]) -> Encoder {
        let mut prefix = Vec::new();
        if format == Format::Json {
            prefix.reserve(path.len() + 24);
            prefix.extend_from_slice(b"\"path\":\"");
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
    /// (or pieces) it held. json records begin with `shared` (raw ignores it).
    pub fn encode(&self, chunk: Chunk, shared: &Shared, out: &mut Vec<u8>) -> u64 {
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
                let head = self.open_record(shared, out);
                let mut start = 0;
                let mut count = 0;
                loop {
                    self.open_line(offset + start as u64, out);
                    start = escape_line(bytes, start, out) + 1;
                    out.extend_from_slice(b"\"}\n");
                    count += 1;
                    if start == bytes.len() {
                        return count;
                    }
                    // One copy of the first record's head, not two.
                    out.extend_from_within(head.clone());
                }
            }
            (Format::Json, Chunk::Piece { offset, bytes }) => {
                self.open_record(shared, out);
                self.open_line(offset, out);
                escape_lossy(bytes, out);
                out.extend_from_slice(b"\"}\n");
                1
            }
        }
    }

    /// Appends a json record's head, all that comes before its offset, and
    /// returns where in `out` it is.
    fn open_record(&self, shared: &Shared, out: &mut Vec<u8>) -> Range<usize> {
        let start = out.len();
        out.extend_from_slice(&shared.bytes);
        out.extend_from_slice(&self.prefix);
        start..out.len()
    }

    /// Appends the offset and what comes before the line's text.
    #[inline(always)]
    fn open_line(&self, offset: u64, out: &mut Vec<u8>) {
        push_u64(offset, out);
        out.extend_from_slice(b",\"line\":\"");
    }
}

/// `t` as RFC 3339 UTC with milliseconds, `2026-12-02T17:50:22.123Z`. A time
/// outside years 0000 to 9999 (a clock far off) is held at the nearer end.
pub fn rfc3339_millis(t: SystemTime) -> [u8; TIME_LEN] {
    const DAY_MS: i64 = 86_400_000;
    /// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
    const FIRST: i64 = -62_167_219_200_000;
    const LAST: i64 = 253_402_300_799_999;
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(LAST),
        // Before the epoch: round down to the millisecond, as after it.
        Err(e) => {
            let d = e.duration();
            let ms = i64::try_from(d.as_millis()).unwrap_or(-FIRST);
            -ms - i64::from(d.subsec_nanos() % 1_000_000 != 0)
        }
    };
    let ms = ms.clamp(FIRST, LAST);
    let (year, month, day) = civil_from_days(ms.div_euclid(DAY_MS));
    let in_day = ms.rem_euclid(DAY_MS);
    let (secs, milli) = (in_day / 1000, in_day % 1000);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    put(20, 3, milli);
    out
}

/// The proleptic Gregorian (year, month, day) of `days` since 1970-01-01,
/// after Howard Hinnant's `civil_from_days`: count in 400-year eras from
/// 0000-03-01, so that the leap day ends each year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // March is 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
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

    /// 2026-12-02T17:50:22.123Z.
    fn read_at() -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_millis(1_796_233_822_123)
    }

    fn shared() -> Shared {
        let mut shared = Shared::new::<&str, &str>(b"h", &[]);
        shared.set_time(read_at());
        shared
    }

    fn json(path: &[u8], chunk: Chunk) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let n = Encoder::new(Format::Json, path).encode(chunk, &shared(), &mut out);
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
            out.push_str("{\"time\":\"2026-12-02T17:50:22.123Z\",\"host\":\"h\",\"path\":\"");
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
        let n = Encoder::new(Format::Json, path).encode(chunk, &shared(), &mut out);
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
            &shared(),
            &mut out,
        );
        assert_eq!(n, 3);
        enc.encode(
            Chunk::Piece {
                offset: 6,
                bytes: b"\xffpiece",
            },
            &shared(),
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

    fn time(ms: i64) -> String {
        let t = if ms >= 0 {
            UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH - std::time::Duration::from_millis(ms.unsigned_abs())
        };
        String::from_utf8(rfc3339_millis(t).to_vec()).unwrap()
    }

    #[test]
    fn rfc3339_for_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (999, "1970-01-01T00:00:00.999Z"),
            (1_796_233_822_123, "2026-12-02T17:50:22.123Z"),
            // Year boundaries.
            (946_684_799_999, "1999-12-31T23:59:59.999Z"),
            (946_684_800_000, "2000-01-01T00:00:00.000Z"),
            (1_767_225_599_999, "2025-12-31T23:59:59.999Z"),
            (1_767_225_600_000, "2026-01-01T00:00:00.000Z"),
            // Leap years: by 4, not by 100, but by 400.
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (951_868_800_000, "2000-03-01T00:00:00.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
            (4_107_499_200_000, "2100-02-28T12:00:00.000Z"),
            (4_107_585_600_000, "2100-03-01T12:00:00.000Z"),
            (2_147_483_648_000, "2038-01-19T03:14:08.000Z"),
            // Before the epoch (a clock set wrong), rounded down like after it.
            (-1, "1969-12-31T23:59:59.999Z"),
            (-2_203_891_201_000, "1900-02-28T23:59:59.000Z"),
            (-2_203_891_200_000, "1900-03-01T00:00:00.000Z"),
            (-11_670_998_400_000, "1600-02-29T00:00:00.000Z"),
            // RFC 3339 has four-digit years: held at the ends.
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
            (-62_167_219_200_001, "0000-01-01T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (253_402_300_800_000, "9999-12-31T23:59:59.999Z"),
            (i64::MAX, "9999-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in cases {
            assert_eq!(time(ms), want, "{ms} ms");
        }
        let just_before = UNIX_EPOCH - std::time::Duration::from_nanos(1);
        assert_eq!(&rfc3339_millis(just_before), b"1969-12-31T23:59:59.999Z");
        let within = UNIX_EPOCH + std::time::Duration::from_nanos(1_999_999);
        assert_eq!(&rfc3339_millis(within), b"1970-01-01T00:00:00.001Z");
    }

    /// The date of `days` since 1970-01-01, counted a year and a month at a time.
    fn naive_date(mut days: i64) -> (i64, i64, i64) {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let year_len = |y: i64| if leap(y) { 366 } else { 365 };
        let mut year = 1970;
        while days < 0 {
            year -= 1;
            days += year_len(year);
        }
        while days >= year_len(year) {
            days -= year_len(year);
            year += 1;
        }
        let feb = if leap(year) { 29 } else { 28 };
        let months = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let mut month = 0;
        while days >= months[month] {
            days -= months[month];
            month += 1;
        }
        (year, month as i64 + 1, days + 1)
    }

    #[test]
    fn shared_part_escapes_host_and_fields() {
        let fields: [(&[u8], &[u8]); 3] = [
            (b"k\"e\\y", b"a\nb\x01\x1f"),
            (b"bad\xff", b"\xc3\x28 \xe2\x82\xac"),
            (b"empty", b""),
        ];
        let mut shared = Shared::new(b"h\"o\tst\xfe", &fields);
        shared.set_time(read_at());
        assert_eq!(
            String::from_utf8_lossy(&shared.bytes),
            "{\"time\":\"2026-12-02T17:50:22.123Z\",\"host\":\"h\\\"o\\tst\u{FFFD}\",\
             \"k\\\"e\\\\y\":\"a\\nb\\u0001\\u001f\",\"bad\u{FFFD}\":\"\u{FFFD}( \u{20ac}\",\
             \"empty\":\"\","
        );
        let mut out = Vec::new();
        let chunk = Chunk::Lines {
            offset: 0,
            bytes: b"x\n",
        };
        Encoder::new(Format::Json, b"/p").encode(chunk, &shared, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["host"], "h\"o\tst\u{FFFD}");
        assert_eq!(v["k\"e\\y"], "a\nb\u{1}\u{1f}");
        assert_eq!(v["bad\u{FFFD}"], "\u{FFFD}( \u{20ac}");
        assert_eq!(v["empty"], "");
        assert_eq!(v["line"], "x");
    }

    #[test]
    fn record_layout() {
        let fields = [("env", "prod"), ("service", "api")];
        let mut shared = Shared::new(b"h1", &fields);
        let before = shared.len();
        shared.set_time(read_at());
        assert_eq!(shared.len(), before, "the time is always as wide");
        let enc = Encoder::new(Format::Json, b"/var/log/a.log");
        let mut out = Vec::new();
        let n = enc.encode(
            Chunk::Lines {
                offset: 10,
                bytes: b"one\n\"two\"\n\nrest",
            },
            &shared,
            &mut out,
        );
        assert_eq!(n, 3);
        shared.set_time(UNIX_EPOCH + std::time::Duration::from_millis(1_796_233_823_004));
        enc.encode(
            Chunk::Piece {
                offset: 20,
                bytes: b"piece",
            },
            &shared,
            &mut out,
        );
        let head = |t: &str| {
            format!(
                "{{\"time\":\"{t}\",\"host\":\"h1\",\"env\":\"prod\",\"service\":\"api\",\
                 \"path\":\"/var/log/a.log\","
            )
        };
        let (t1, t2) = ("2026-12-02T17:50:22.123Z", "2026-12-02T17:50:23.004Z");
        let want = format!(
            "{}\"offset\":10,\"line\":\"one\"}}\n\
             {}\"offset\":14,\"line\":\"\\\"two\\\"\"}}\n\
             {}\"offset\":20,\"line\":\"\"}}\n\
             {}\"offset\":20,\"line\":\"piece\"}}\n",
            head(t1),
            head(t1),
            head(t1),
            head(t2)
        );
        assert_eq!(String::from_utf8_lossy(&out), want);
    }

    proptest! {
        #[test]
        fn rfc3339_matches_counting_days(ms in -20_000_000_000_000i64..20_000_000_000_000) {
            let text = time(ms);
            let days = ms.div_euclid(86_400_000);
            let (y, m, d) = naive_date(days);
            let rest = ms.rem_euclid(86_400_000);
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                rest / 3_600_000,
                rest / 60_000 % 60,
                rest / 1000 % 60,
                rest % 1000
            );
            prop_assert_eq!(text, want);
        }

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
