//! The checkpoint file's text (see the module doc of `checkpoint`):
//! `render` and the strict `parse`, which names the line of whatever it
//! refuses, so that a damaged file is never half read.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use super::{Checkpoint, Entry, OutputMark};
use crate::error::Error;
use crate::identity::{FileId, Fingerprint, FINGERPRINT_BYTES};

const MAGIC: &str = "log-collector-checkpoints";
const VERSION: u32 = 2;
/// The version without change times, still written when none is needed.
const VERSION_1: u32 = 1;

/// Renders the checkpoint file's text.
pub fn render(cp: &Checkpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + cp.files.len() * 96);
    out.extend_from_slice(
        b"# log-collector checkpoints; do not edit while log-collector runs\n\
          # file <dev> <ino> <born|-> <offset> <size> <fingerprint length> <fingerprint> <prior|-> <retired at|-> <path>\n",
    );
    // Version 1 while nothing needs version 2: an older build can still
    // read the file.
    let version = if cp.files.iter().any(|e| e.copies_until.is_some()) {
        VERSION
    } else {
        VERSION_1
    };
    let _ = writeln!(out, "{MAGIC} {version}");
    if let Some(o) = cp.output {
        let _ = writeln!(out, "output {} {} {}", o.id.dev, o.id.ino, o.length);
    }
    for e in &cp.files {
        let _ = write!(out, "file {} {} ", e.id.dev, e.id.ino);
        write_optional(&mut out, e.born);
        let _ = write!(
            out,
            "{} {} {} {:016x} ",
            e.offset, e.size, e.fingerprint.len, e.fingerprint.hash
        );
        match (e.prior, e.copies_until) {
            (Some(fp), Some(until)) => {
                let _ = write!(out, "{}:{:016x}@{until} ", fp.len, fp.hash);
            }
            (Some(fp), None) => {
                let _ = write!(out, "{}:{:016x} ", fp.len, fp.hash);
            }
            (None, _) => out.extend_from_slice(b"- "),
        }
        write_optional(&mut out, e.retired);
        escape_path(e.path.as_os_str().as_bytes(), &mut out);
        out.push(b'\n');
    }
    let _ = writeln!(out, "end {}", cp.files.len());
    out
}

/// A number or `-`, and a space.
fn write_optional(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        Some(v) => {
            let _ = write!(out, "{v} ");
        }
        None => out.extend_from_slice(b"- "),
    }
}

/// Escapes a path so that it is one printable, space-free field.
pub fn escape_path(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'!'..=b'~' => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

/// Reverses `escape_path`.
pub fn unescape_path(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' => match text.get(i + 1) {
                Some(b'\\') => {
                    out.push(b'\\');
                    i += 2;
                }
                Some(b'x') => {
                    let hex = text
                        .get(i + 2..i + 4)
                        .ok_or("truncated \\x escape in path")?;
                    let hex = std::str::from_utf8(hex).map_err(|_| "bad \\x escape in path")?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad \\x escape in path")?);
                    i += 4;
                }
                _ => return Err("bad escape in path".into()),
            },
            b'!'..=b'~' => {
                out.push(text[i]);
                i += 1;
            }
            _ => return Err("unescaped space or control byte in path".into()),
        }
    }
    Ok(out)
}

/// Parses checkpoint text. `name` is the file named in errors.
pub fn parse(bytes: &[u8], name: &str) -> Result<Checkpoint, Error> {
    let err = |line: usize, message: String| Error::Checkpoint {
        path: name.to_string(),
        line,
        message,
    };
    let mut cp = Checkpoint::default();
    let mut header = false;
    let mut end = false;
    let mut last = 0;
    let mut comments = false;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = index + 1;
        if line.is_empty() || line[0] == b'#' {
            comments |= !line.is_empty();
            continue;
        }
        last = n;
        if end {
            return Err(err(n, "content after the `end` line".into()));
        }
        let text = std::str::from_utf8(line).map_err(|_| err(n, "not valid text".into()))?;
        let fields: Vec<&str> = text.split(' ').collect();
        if !header {
            parse_header(&fields).map_err(|m| err(n, m))?;
            header = true;
            continue;
        }
        match fields[0] {
            "output" if fields.len() == 4 => {
                cp.output = Some(parse_output(&fields).map_err(|m| err(n, m))?);
            }
            "file" if fields.len() == 11 => {
                cp.files.push(parse_file(&fields).map_err(|m| err(n, m))?);
            }
            "end" if fields.len() == 2 => {
                if number(&fields, 1, "count").map_err(|m| err(n, m))? != cp.files.len() as u64 {
                    return Err(err(
                        n,
                        "the file count does not match: the file is incomplete".into(),
                    ));
                }
                end = true;
            }
            _ => return Err(err(n, "unrecognised line".into())),
        }
    }
    if !header && comments {
        return Err(err(
            0,
            "the file holds only comments: no `log-collector-checkpoints` line".into(),
        ));
    }
    if !header {
        return Err(err(0, "the file is empty".into()));
    }
    if !end {
        return Err(err(
            last + 1,
            "the `end` line is missing: the file is incomplete".into(),
        ));
    }
    Ok(cp)
}

/// Checks the `log-collector-checkpoints <version>` line.
fn parse_header(fields: &[&str]) -> Result<(), String> {
    if fields.len() != 2 || fields[0] != MAGIC {
        return Err(format!(
            "not a checkpoint file (expected `{MAGIC} {VERSION}`)"
        ));
    }
    if ![VERSION, VERSION_1]
        .iter()
        .any(|v| fields[1] == v.to_string())
    {
        return Err(format!(
            "version {} is not supported (this build reads versions {VERSION_1} and {VERSION})",
            fields[1]
        ));
    }
    Ok(())
}

/// The fields of an `output <dev> <ino> <committed length>` line.
fn parse_output(fields: &[&str]) -> Result<OutputMark, String> {
    Ok(OutputMark {
        id: parse_id(fields)?,
        length: number(fields, 3, "output length")?,
    })
}

/// The fields of a `file ...` line (see the module doc).
fn parse_file(fields: &[&str]) -> Result<Entry, String> {
    let id = parse_id(fields)?;
    let born = optional(fields, 3, "birth time")?;
    let offset = number(fields, 4, "offset")?;
    let size = number(fields, 5, "size")?;
    let fp_len = number(fields, 6, "fingerprint length")?;
    if fp_len > FINGERPRINT_BYTES {
        return Err("bad fingerprint length".into());
    }
    let hash = u64::from_str_radix(fields[7], 16).map_err(|_| "bad fingerprint".to_string())?;
    let (prior, copies_until) = parse_prior(fields[8])?;
    let retired = optional(fields, 9, "retirement time")?;
    let path = unescape_path(fields[10].as_bytes())?;
    if path.is_empty() {
        return Err("empty path".into());
    }
    Ok(Entry {
        id,
        born,
        offset,
        size,
        fingerprint: Fingerprint { len: fp_len, hash },
        prior,
        copies_until,
        retired,
        path: PathBuf::from(OsString::from_vec(path)).into(),
    })
}

/// `-`, or `length:hash` with, in version 2, `@` and the change time.
fn parse_prior(field: &str) -> Result<(Option<Fingerprint>, Option<u64>), String> {
    let bad = || "bad prior fingerprint".to_string();
    let (len, rest) = match field.split_once(':') {
        None if field == "-" => return Ok((None, None)),
        None => return Err(bad()),
        Some(split) => split,
    };
    let (hash, until) = match rest.split_once('@') {
        Some((hash, until)) => {
            let until = until
                .parse::<u64>()
                .map_err(|_| "bad prior change time".to_string())?;
            (hash, Some(until))
        }
        None => (rest, None),
    };
    let len = len.parse::<u64>().ok().filter(|&l| l <= FINGERPRINT_BYTES);
    let hash = u64::from_str_radix(hash, 16).ok();
    match (len, hash) {
        (Some(len), Some(hash)) => Ok((Some(Fingerprint { len, hash }), until)),
        _ => Err(bad()),
    }
}

/// The device and inode in fields 1 and 2.
fn parse_id(fields: &[&str]) -> Result<FileId, String> {
    Ok(FileId {
        dev: number(fields, 1, "device")?,
        ino: number(fields, 2, "inode")?,
    })
}

/// Field `i` as a number; `what` names it in the error.
fn number(fields: &[&str], i: usize, what: &str) -> Result<u64, String> {
    fields
        .get(i)
        .and_then(|f| f.parse::<u64>().ok())
        .ok_or_else(|| format!("bad {what}"))
}

/// Field `i` as a number, or `-` for none.
fn optional(fields: &[&str], i: usize, what: &str) -> Result<Option<u64>, String> {
    match fields[i] {
        "-" => Ok(None),
        _ => number(fields, i, what).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::entry;
    use proptest::prelude::*;

    #[test]
    fn the_text_is_readable() {
        let cp = Checkpoint {
            output: Some(OutputMark {
                id: FileId { dev: 1, ino: 2 },
                length: 300,
            }),
            files: vec![entry(b"/var/log/my app.log", 42)],
        };
        let text = String::from_utf8(render(&cp)).unwrap();
        assert!(text.contains("\nlog-collector-checkpoints 1\noutput 1 2 300\n"));
        assert!(text.contains(
            "\nfile 2049 131 1795575055286183232 42 49 1024 00000000deadbeef - - /var/log/my\\x20app.log\nend 1\n"
        ));
        assert_eq!(parse(text.as_bytes(), "cp").unwrap(), cp);
    }

    #[test]
    fn corrupt_files_name_the_line() {
        let good = String::from_utf8(render(&Checkpoint {
            output: None,
            files: vec![entry(b"/a", 1)],
        }))
        .unwrap();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "checkpoint file cp: the file is empty"),
            (
                "# only a comment\n".into(),
                "checkpoint file cp: the file holds only comments",
            ),
            (
                "hello\n".into(),
                "checkpoint file cp:1: not a checkpoint file",
            ),
            (
                "log-collector-checkpoints 9\n".into(),
                "checkpoint file cp:1: version 9 is not supported (this build reads versions 1 and 2)",
            ),
            (
                good.replace(" 1 8 1024 ", " x 8 1024 "),
                "checkpoint file cp:4: bad offset",
            ),
            (
                good.replace("end 1", "end 2"),
                "checkpoint file cp:5: the file count does not match",
            ),
            (
                good.replace("end 1\n", ""),
                "checkpoint file cp:5: the `end` line is missing",
            ),
            (
                good.replace(" /a", " /a\\q"),
                "checkpoint file cp:4: bad escape in path",
            ),
            (
                good.replace("file ", "fiel "),
                "checkpoint file cp:4: unrecognised line",
            ),
            (
                good.clone() + "file 1 2 3\n",
                "checkpoint file cp:6: content after the `end` line",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text.as_bytes(), "cp").unwrap_err().to_string();
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn version_1_is_read_and_the_prior_change_time_round_trips() {
        let v1 = b"log-collector-checkpoints 1\n\
                   file 1 2 - 5 5 5 00000000000000aa 3:00000000000000bb - a.log\nend 1\n";
        let cp = parse(v1, "cp").unwrap();
        assert_eq!(cp.files[0].prior, Some(Fingerprint { len: 3, hash: 0xbb }));
        assert_eq!(cp.files[0].copies_until, None);
        let mut e = entry(b"a.log", 5);
        e.prior = Some(Fingerprint { len: 3, hash: 0xbb });
        e.copies_until = Some(1_795_575_055_286_183_232);
        let cp = Checkpoint {
            output: None,
            files: vec![e],
        };
        let text = render(&cp);
        assert!(String::from_utf8_lossy(&text).contains("log-collector-checkpoints 2\n"));
        assert!(String::from_utf8_lossy(&text)
            .contains(" 3:00000000000000bb@1795575055286183232 - a.log\n"));
        assert_eq!(parse(&text, "cp").unwrap(), cp);
        let bad = b"log-collector-checkpoints 2\n\
                    file 1 2 - 5 5 5 00000000000000aa 3:00000000000000bb@x - a.log\nend 1\n";
        assert!(parse(bad, "cp").is_err());
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(
            files in proptest::collection::vec(
                ((any::<u64>(), any::<u64>(), proptest::option::of(any::<u64>()), any::<u64>(), any::<u64>()),
                 (0..=FINGERPRINT_BYTES, any::<u64>(), proptest::option::of((0..=FINGERPRINT_BYTES, any::<u64>(), proptest::option::of(any::<u64>()))),
                  proptest::option::of(any::<u64>()), proptest::collection::vec(any::<u8>(), 1..40))),
                0..6),
            output in proptest::option::of((any::<u64>(), any::<u64>(), any::<u64>())),
        ) {
            let cp = Checkpoint {
                output: output.map(|(dev, ino, length)| OutputMark { id: FileId { dev, ino }, length }),
                files: files.into_iter().map(|((dev, ino, born, offset, size), (len, hash, prior, retired, path))| Entry {
                    id: FileId { dev, ino },
                    born,
                    offset,
                    size,
                    fingerprint: Fingerprint { len, hash },
                    prior: prior.map(|(len, hash, _)| Fingerprint { len, hash }),
                    copies_until: prior.and_then(|(_, _, until)| until),
                    retired,
                    path: PathBuf::from(OsString::from_vec(path)).into(),
                }).collect(),
            };
            prop_assert_eq!(parse(&render(&cp), "cp").unwrap(), cp);
        }
    }
}
