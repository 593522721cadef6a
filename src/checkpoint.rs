//! The checkpoint store: the state-dir lock and the `checkpoints` file.
//!
//! The file is versioned, line-oriented text, one line per tracked file:
//!
//! ```text
//! log-collector-checkpoints 2
//! output <dev> <ino> <committed length>          (file output only)
//! file <dev> <ino> <born|-> <offset> <size> <fp length> <fp hash> <prior|-> <retired at|-> <path>
//! end <number of file lines>
//! ```
//!
//! `prior` is the fingerprint before the file was last truncated in place,
//! `length:hash`, followed in version 2 by `@` and the file's change time
//! (ns) when that truncation was seen, where known. A file that needs no
//! change time is written as version 1, which older builds read too.
//!
//! Paths are escaped (`\\`, and `\xHH` for every byte outside `!`..`~`) so
//! spaces, newlines and non-UTF-8 bytes round-trip. It is replaced atomically
//! (temp file, fsync, rename, fsync of the directory) and not rewritten when
//! nothing changed. The store records what it is given; it computes no offsets.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{show, Error, IoContext};
use crate::identity::{fnv1a, FileId, Fingerprint, FINGERPRINT_BYTES};

/// The files the collector keeps in its state dir: never an output, a stats
/// file or a followed file. The output tail record is `output/tail.rs`'s.
pub const STATE_FILES: &[&str] = &[LOCK, CHECKPOINTS, CHECKPOINTS_TMP, OUTPUT_TAIL];
const LOCK: &str = "lock";
const CHECKPOINTS: &str = "checkpoints";
const CHECKPOINTS_TMP: &str = "checkpoints.tmp";
pub const OUTPUT_TAIL: &str = "output-tail";

const MAGIC: &str = "log-collector-checkpoints";
const VERSION: u32 = 2;
/// The version without change times, still written when none is needed.
const VERSION_1: u32 = 1;

/// One tracked file as saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: FileId,
    /// Birth time in nanoseconds since the epoch, where the filesystem keeps
    /// one: tells a recycled inode from the file that had it.
    pub born: Option<u64>,
    /// Next byte to deliver: always at a line or piece boundary.
    pub offset: u64,
    /// Size at the last look: bytes past `offset` were not delivered yet.
    pub size: u64,
    pub fingerprint: Fingerprint,
    /// The fingerprint before the file was last truncated in place
    /// (`length:hash`): a copy made by copytruncate starts like that.
    pub prior: Option<Fingerprint>,
    /// The file's change time (ns) when that truncation was seen: files
    /// beside it born no later were there before it (copies, not later
    /// generations).
    pub copies_until: Option<u64>,
    /// Unix time at which the file was fully delivered and let go, if it was.
    pub retired: Option<u64>,
    /// The path it was followed under (as derived from PATH); shared with
    /// the tracked file, so a save copies no path.
    pub path: std::rc::Rc<Path>,
}

/// The output file as of the checkpoint: bytes past `length` were never confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputMark {
    pub id: FileId,
    pub length: u64,
}

/// Everything the checkpoint file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub output: Option<OutputMark>,
    pub files: Vec<Entry>,
}

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
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let n = index + 1;
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        last = n;
        if end {
            return Err(err(n, "content after the `end` line".into()));
        }
        let text = std::str::from_utf8(line).map_err(|_| err(n, "not valid text".into()))?;
        let fields: Vec<&str> = text.split(' ').collect();
        if !header {
            if fields.len() != 2 || fields[0] != MAGIC {
                return Err(err(
                    n,
                    format!("not a checkpoint file (expected `{MAGIC} {VERSION}`)"),
                ));
            }
            if ![VERSION, VERSION_1]
                .iter()
                .any(|v| fields[1] == v.to_string())
            {
                return Err(err(
                    n,
                    format!(
                        "version {} is not supported (this build reads {VERSION})",
                        fields[1]
                    ),
                ));
            }
            header = true;
            continue;
        }
        let num = |i: usize, what: &str| -> Result<u64, Error> {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or_else(|| err(n, format!("bad {what}")))
        };
        match fields[0] {
            "output" if fields.len() == 4 => {
                let id = FileId {
                    dev: num(1, "device")?,
                    ino: num(2, "inode")?,
                };
                cp.output = Some(OutputMark {
                    id,
                    length: num(3, "output length")?,
                });
            }
            "file" if fields.len() == 11 => {
                let optional = |i: usize, what: &str| match fields[i] {
                    "-" => Ok(None),
                    _ => num(i, what).map(Some),
                };
                let id = FileId {
                    dev: num(1, "device")?,
                    ino: num(2, "inode")?,
                };
                let born = optional(3, "birth time")?;
                let offset = num(4, "offset")?;
                let size = num(5, "size")?;
                let fp_len = num(6, "fingerprint length")?;
                if fp_len > FINGERPRINT_BYTES {
                    return Err(err(n, "bad fingerprint length".into()));
                }
                let hash = u64::from_str_radix(fields[7], 16)
                    .map_err(|_| err(n, "bad fingerprint".into()))?;
                let (prior, copies_until) = match fields[8].split_once(':') {
                    None if fields[8] == "-" => (None, None),
                    Some((len, rest)) => {
                        let (hash, until) = match rest.split_once('@') {
                            Some((hash, until)) => {
                                let until = until
                                    .parse::<u64>()
                                    .map_err(|_| err(n, "bad prior change time".into()))?;
                                (hash, Some(until))
                            }
                            None => (rest, None),
                        };
                        let len = len.parse::<u64>().ok().filter(|&l| l <= FINGERPRINT_BYTES);
                        let hash = u64::from_str_radix(hash, 16).ok();
                        match (len, hash) {
                            (Some(len), Some(hash)) => (Some(Fingerprint { len, hash }), until),
                            _ => return Err(err(n, "bad prior fingerprint".into())),
                        }
                    }
                    None => return Err(err(n, "bad prior fingerprint".into())),
                };
                let retired = optional(9, "retirement time")?;
                let path = unescape_path(fields[10].as_bytes()).map_err(|m| err(n, m))?;
                if path.is_empty() {
                    return Err(err(n, "empty path".into()));
                }
                cp.files.push(Entry {
                    id,
                    born,
                    offset,
                    size,
                    fingerprint: Fingerprint { len: fp_len, hash },
                    prior,
                    copies_until,
                    retired,
                    path: PathBuf::from(OsString::from_vec(path)).into(),
                });
            }
            "end" if fields.len() == 2 => {
                if num(1, "count")? != cp.files.len() as u64 {
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

/// The state dir, locked, with its checkpoint file.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    tmp: PathBuf,
    /// Held for the life of the process: the flock lives on this descriptor.
    _lock: File,
    /// A hash of the bytes last written, so an unchanged checkpoint is not
    /// written again (the bytes themselves would be kept for nothing: a
    /// megabyte with 10,000 files).
    last: (usize, u64),
}

impl Store {
    /// Creates the state dir if needed (mode 0700), takes its lock, and loads
    /// the checkpoint file if there is one.
    pub fn open(dir: &Path) -> Result<(Store, Option<Checkpoint>), Error> {
        // Creating it would fail with "File exists", which names neither
        // the problem nor the fix.
        if let Ok(meta) = fs::metadata(dir) {
            if !meta.is_dir() {
                return Err(Error::State {
                    message: format!("state dir {} is a file, not a directory", show(dir)),
                    hint: "give --state-dir (or `state-dir =`) a directory, or a path \
                           that does not exist yet (it is created), or move the file away"
                        .into(),
                });
            }
        }
        if !dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .context(|| format!("cannot create state dir {}", show(dir)))?;
            // The umask may have narrowed the mode; make it exactly 0700.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .context(|| format!("cannot set the mode of state dir {}", show(dir)))?;
        }
        check_ownership(dir)?;
        // A dir made by someone else is theirs to chmod: it may be shared.
        let meta = fs::metadata(dir).context(|| format!("cannot use state dir {}", show(dir)))?;
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "state dir {} is open to other users (mode {:o}); chmod 0700 it",
                show(dir),
                meta.permissions().mode() & 0o777
            );
        }
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .context(|| {
                format!(
                    "cannot use state dir {}: cannot open {}",
                    show(dir),
                    show(&lock_path)
                )
            })?;
        match crate::identity::try_lock(&lock) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::LockHeld {
                    lock: show(&lock_path),
                })
            }
            Err(e) => {
                return Err(Error::Io {
                    context: format!("cannot lock {}", show(&lock_path)),
                    source: e,
                })
            }
        }
        let path = dir.join(CHECKPOINTS);
        let tmp = dir.join(CHECKPOINTS_TMP);
        // A temp file is only ever renamed once complete and synced, so one
        // left behind is from a crash mid-save: the main file is the truth.
        match fs::remove_file(&tmp) {
            Ok(()) => log::info!("removed {} left by an interrupted save", show(&tmp)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Io {
                    context: format!("cannot remove {}", show(&tmp)),
                    source: e,
                })
            }
        }
        let (loaded, last) = match fs::read(&path) {
            Ok(bytes) => (
                Some(parse(&bytes, &show(&path))?),
                (bytes.len(), fnv1a(&bytes)),
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, (0, fnv1a(b""))),
            // Nothing is wrong with what it holds: moving it away would
            // throw away every file's position for a permission problem.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(Error::State {
                    message: format!("cannot read checkpoint file {}: {e}", show(&path)),
                    hint: "fix its ownership or permissions: the user log-collector runs \
                           as must own it and be able to read and write it (mode 0600); \
                           do not move it away, it holds every file's position"
                        .into(),
                })
            }
            Err(e) => {
                return Err(Error::Checkpoint {
                    path: show(&path),
                    line: 0,
                    message: format!("cannot read it: {e}"),
                })
            }
        };
        Ok((
            Store {
                dir: dir.to_path_buf(),
                path,
                tmp,
                _lock: lock,
                last,
            },
            loaded,
        ))
    }

    /// The checkpoint file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves `cp` unless it is what was last saved. Returns whether it wrote.
    /// Nothing is changed on disk until the final rename, so a failure at any
    /// point leaves the previous checkpoint in force.
    pub fn save(&mut self, cp: &Checkpoint, fsync: bool) -> io::Result<bool> {
        let bytes = render(cp);
        let hash = (bytes.len(), fnv1a(&bytes));
        if hash == self.last {
            return Ok(false);
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.tmp)?;
        // The umask could have narrowed the mode; make it exactly 0600.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&bytes)?;
        if fsync {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&self.tmp, &self.path)?;
        if fsync {
            // The rename is durable only once the directory is.
            File::open(&self.dir)?.sync_all()?;
        }
        self.last = hash;
        Ok(true)
    }
}

/// The state-dir ownership rule: the files of the state dir belong to the
/// user the collector runs as, and a collector running as root uses only a
/// state dir that root owns.
///
/// A run as root on the service's dir (`sudo log-collector --once` takes
/// `/var/lib/log-collector` by default) would replace the checkpoint file
/// with one that the service's user cannot read, and the service would fail
/// at every start; root writing in a dir another user controls could also
/// be led by a symlink planted there to overwrite any file. So root refuses
/// such a dir before creating anything in it, and a collector that finds
/// another user's files (left by an older build, or by a copy) says whose
/// they are and how to hand them over, instead of failing on the first one
/// it cannot open.
fn check_ownership(dir: &Path) -> Result<(), Error> {
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let meta = fs::metadata(dir).context(|| format!("cannot use state dir {}", show(dir)))?;
    if uid == 0 && meta.uid() != 0 {
        return Err(Error::Ownership {
            message: format!(
                "state dir {} belongs to {}, and this collector runs as root: files root \
                 wrote there could not be used by their owner (the log-collector service, \
                 for its own dir)",
                show(dir),
                who(meta.uid())
            ),
            hint: "give this run its own --state-dir, or run it as the dir's owner".into(),
        });
    }
    for name in STATE_FILES {
        let path = dir.join(name);
        let owner = match fs::symlink_metadata(&path) {
            Ok(m) => m.uid(),
            Err(_) => continue,
        };
        if owner != uid {
            let real = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            return Err(Error::Ownership {
                message: format!(
                    "state file {} belongs to {}, not to {}, which this collector runs as",
                    show(&path),
                    who(owner),
                    who(uid)
                ),
                hint: format!(
                    "a collector run as that user left it: `chown -R {uid}:{gid} {}` hands \
                     the state over (with that run's positions); give such runs their own \
                     --state-dir",
                    show(&real)
                ),
            });
        }
    }
    Ok(())
}

/// `uid N`, with root named. Other names are not looked up: the ARM builds
/// are static, and glibc's user lookup would load NSS modules of another
/// glibc at run time.
fn who(uid: libc::uid_t) -> String {
    match uid {
        0 => "uid 0 (root)".into(),
        n => format!("uid {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(path: &[u8], offset: u64) -> Entry {
        Entry {
            id: FileId {
                dev: 2049,
                ino: 131,
            },
            born: Some(1_795_575_055_286_183_232),
            offset,
            size: offset + 7,
            fingerprint: Fingerprint {
                len: 1024,
                hash: 0xdead_beef,
            },
            prior: None,
            copies_until: None,
            retired: None,
            path: PathBuf::from(OsString::from_vec(path.to_vec())).into(),
        }
    }

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
                "checkpoint file cp: the file is empty",
            ),
            (
                "hello\n".into(),
                "checkpoint file cp:1: not a checkpoint file",
            ),
            (
                "log-collector-checkpoints 9\n".into(),
                "checkpoint file cp:1: version 9 is not supported",
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
    fn save_is_skipped_when_nothing_changed_and_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let (mut store, loaded) = Store::open(&state).unwrap();
        assert!(loaded.is_none());
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let cp = Checkpoint {
            output: None,
            files: vec![entry(b"/a", 5)],
        };
        assert!(store.save(&cp, true).unwrap());
        assert!(!store.save(&cp, true).unwrap());
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(Store::open(&state), Err(Error::LockHeld { .. })));
        drop(store);
        fs::write(state.join("checkpoints.tmp"), b"half a fi").unwrap();
        let (_store, loaded) = Store::open(&state).unwrap();
        assert_eq!(loaded, Some(cp));
        assert!(!state.join("checkpoints.tmp").exists());
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
