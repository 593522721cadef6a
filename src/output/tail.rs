//! The output tail record: what a collector writing to a file output may have
//! written past its last checkpoint, so that at the next start it cuts off
//! only bytes it can prove are its own.
//!
//! A checkpoint records the output's length `L`. Bytes past `L` at start-up
//! are either this collector's unconfirmed tail (it died before the next
//! checkpoint) or another writer's. The record, the file `output-tail` in the
//! state dir, tells them apart. It is rewritten in place:
//!
//! - before each write to the output: `writing`, `L`, the output's length
//!   `E` just before the write (or `-` when something else changed the file
//!   since `L`), and the bytes about to be written, `X`. The header is first
//!   written saying the bytes are not there yet, then the bytes, then the
//!   header again with their length: a kill at any point leaves a header
//!   that describes the bytes after it, or says no write has begun;
//!   A kernel copy from a log file is recorded as `copying`, with a reference
//!   to the bytes instead of the bytes: the log file's identity, path,
//!   offset and length, so that they do not pass through the kernel twice;
//!   at start-up they are read from the log file, if it is still there;
//! - after each checkpoint: `writing` with `E = L` and no bytes;
//! - at a clean stop, once everything written is checkpointed: `clean`.
//!
//! Everything in `[L, E)` was written by this collector (the output is
//! locked, and `E` is only given when the file grew by exactly what this
//! collector wrote). At start-up, with the output now `F` bytes long, the
//! tail `[L, F)` is provably this collector's when `[E, F)` is a prefix of
//! `X` (a write cut short by a kill leaves a prefix): it is cut off and
//! written again. When nothing of `X` landed and `E = L`, or the record says
//! `clean`, nothing past `L` is this collector's: it is kept, and no line
//! repeats. Anything else (no record, a record about another checkpoint,
//! bytes after `X`) cannot be told apart: it is kept and the restart may
//! repeat lines. Bytes another writer added that are exactly what this
//! collector was writing cannot be told from its own: they are cut.
//!
//! The record also says since which length `L0` the output holds only this
//! collector's bytes (each checkpoint keeps `L0` when the output grew by
//! exactly what it wrote): a checkpoint file older than the record (put back
//! from a copy, or a save lost with `--no-fsync`) with `L0 <= L` still finds
//! `[L, F)` its own.
//!
//! The record is not fsynced while running (a kill loses nothing the kernel
//! has), so a `writing` record is trusted only within the boot that wrote it;
//! the record written at start-up and the `clean` one are fsynced, so a stale
//! `clean` never survives a start.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::identity::{fnv1a, read_full_at, FileId};

const MAGIC: &str = "log-collector-output-tail 1";
/// The header's fixed size: the bytes `X` follow it.
const HEADER: usize = 256;
/// Bytes compared at a time at start-up.
const COMPARE_CHUNK: usize = 64 << 10;

/// What the bytes past the checkpointed length are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// This collector's own unconfirmed tail: cut it off, it is written again.
    Ours,
    /// Another writer's, and none of this collector's lines is unconfirmed:
    /// keep it.
    Foreign,
    /// Cannot be told apart: keep it; the unconfirmed lines are written again.
    Unknown,
}

/// One parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    clean: bool,
    /// The bytes after the header are a reference to part of a log file
    /// (`Reference`), not the bytes written.
    copy: bool,
    /// The boot the record was written in (`-` where unknown).
    boot: u64,
    id: FileId,
    /// All of `[ours_from, committed)` was written by this collector.
    ours_from: u64,
    committed: u64,
    /// The output's length before the write, when all of `[committed, start)`
    /// is this collector's.
    start: Option<u64>,
    /// How many bytes follow the header; `None` while they are being
    /// written (the write to the output has not begun then).
    len: Option<u64>,
}

fn render(h: &Header) -> [u8; HEADER] {
    let state = match (h.clean, h.copy) {
        (true, _) => "clean",
        (false, false) => "writing",
        (false, true) => "copying",
    };
    let number = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let text = format!(
        "{MAGIC} {state} {:016x} {} {} {} {} {} {}",
        h.boot,
        h.id.dev,
        h.id.ino,
        h.ours_from,
        h.committed,
        number(h.start),
        number(h.len)
    );
    // A checksum, so that a header half overwritten is no header.
    let text = format!("{text} {:016x}", fnv1a(text.as_bytes()));
    let mut out = [b' '; HEADER];
    out[..text.len()].copy_from_slice(text.as_bytes());
    out[HEADER - 1] = b'\n';
    out
}

fn parse(bytes: &[u8]) -> Option<Header> {
    let text = std::str::from_utf8(bytes).ok()?.trim_end();
    let (text, sum) = text.rsplit_once(' ')?;
    if u64::from_str_radix(sum, 16).ok()? != fnv1a(text.as_bytes()) {
        return None;
    }
    let f: Vec<&str> = text.strip_prefix(MAGIC)?.split_whitespace().collect();
    if f.len() != 8 {
        return None;
    }
    let (clean, copy) = match f[0] {
        "clean" => (true, false),
        "writing" => (false, false),
        "copying" => (false, true),
        _ => return None,
    };
    let number = |s: &str| match s {
        "-" => Some(None),
        s => s.parse().ok().map(Some),
    };
    Some(Header {
        clean,
        copy,
        boot: u64::from_str_radix(f[1], 16).ok()?,
        id: FileId {
            dev: f[2].parse().ok()?,
            ino: f[3].parse().ok()?,
        },
        ours_from: f[4].parse().ok()?,
        committed: f[5].parse().ok()?,
        start: number(f[6])?,
        len: number(f[7])?,
    })
}

/// How many of the `len` bytes of `a` from `at` equal those of `b` from `b_at`.
fn same_prefix(a: &File, at: u64, b: &File, b_at: u64, len: u64) -> io::Result<u64> {
    let mut x = vec![0u8; COMPARE_CHUNK];
    let mut y = vec![0u8; COMPARE_CHUNK];
    let mut done = 0u64;
    while done < len {
        let n = usize::try_from(len - done)
            .unwrap_or(usize::MAX)
            .min(COMPARE_CHUNK);
        let got = read_full_at(a, &mut x[..n], at + done)?;
        let got = read_full_at(b, &mut y[..got], b_at + done)?;
        match x[..got].iter().zip(&y[..got]).position(|(p, q)| p != q) {
            Some(i) => return Ok(done + i as u64),
            None if got < n => return Ok(done + got as u64),
            None => done += n as u64,
        }
    }
    Ok(done)
}

/// The `Reference::head` of `len` bytes of `src` from `offset`.
fn reference_head(src: &File, offset: u64, len: u64) -> io::Result<u64> {
    let mut head = [0u8; REFERENCE_HEAD];
    let want = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .min(REFERENCE_HEAD);
    let got = read_full_at(src, &mut head[..want], offset)?;
    Ok(fnv1a(&head[..got]))
}

/// What a `copying` record holds after its header: part of a log file.
#[derive(Debug, PartialEq, Eq)]
struct Reference {
    id: FileId,
    offset: u64,
    len: u64,
    /// `fnv1a` of the first `REFERENCE_HEAD` bytes copied: a log file
    /// written again since does not vouch for them.
    head: u64,
    path: PathBuf,
}

const REFERENCE_HEAD: usize = 64;

impl Reference {
    /// `DEV INO OFFSET LEN HEAD` and a newline, then the path's bytes.
    fn render(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let (id, offset, len, head) = (self.id, self.offset, self.len, self.head);
        let mut out = format!("{} {} {offset} {len} {head:016x}\n", id.dev, id.ino).into_bytes();
        out.extend_from_slice(self.path.as_os_str().as_bytes());
        out
    }

    fn parse(bytes: &[u8]) -> Option<Reference> {
        use std::os::unix::ffi::OsStrExt;
        let nl = bytes.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&bytes[..nl]).ok()?;
        let (numbers, head) = line.rsplit_once(' ')?;
        let f: Vec<u64> = numbers
            .split(' ')
            .map(|n| n.parse().ok())
            .collect::<Option<_>>()?;
        let [dev, ino, offset, len] = f[..] else {
            return None;
        };
        Some(Reference {
            id: FileId { dev, ino },
            offset,
            len,
            head: u64::from_str_radix(head, 16).ok()?,
            path: PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[nl + 1..])),
        })
    }
}

/// An identifier of the running boot: a hash of Linux's boot id, 0 where
/// there is none (the record is then trusted as if written in this boot).
fn boot_id() -> u64 {
    std::fs::read("/proc/sys/kernel/random/boot_id")
        .map(|b| fnv1a(b.trim_ascii()))
        .unwrap_or(0)
}

/// The open record for one file output.
#[derive(Debug)]
pub struct TailRecord {
    path: PathBuf,
    file: File,
    boot: u64,
    id: FileId,
    /// All of `[ours_from, committed)` is this collector's (see `Header`).
    ours_from: u64,
    committed: u64,
    /// The output's length if it changed only by this collector's writes
    /// since `committed`.
    expected: Option<u64>,
    /// The recorded write's start and end, when known to be ours.
    pending: (Option<u64>, Option<u64>),
    /// The last record could not be written (and that was logged).
    failing: bool,
}

impl TailRecord {
    /// Opens (creating, mode 0600) the record in `dir`.
    pub fn open(dir: &Path) -> io::Result<TailRecord> {
        let path = dir.join(crate::checkpoint::OUTPUT_TAIL);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        Ok(TailRecord {
            path,
            file,
            boot: boot_id(),
            id: FileId { dev: 0, ino: 0 },
            ours_from: 0,
            committed: 0,
            expected: None,
            pending: (None, None),
            failing: false,
        })
    }

    /// Judges the bytes of `output` (file `id`) past `committed`, the
    /// checkpointed length, from the record left by the last run.
    pub fn judge(&self, output: &File, id: FileId, committed: u64, now: u64) -> Verdict {
        let mut head = [0u8; HEADER];
        let h = match self.file.read_exact_at(&mut head, 0) {
            Ok(()) => parse(&head),
            Err(_) => None,
        };
        // A record of a later checkpoint than the one found (an older
        // checkpoint file put back) still vouches for `[ours_from, committed)`.
        let Some(h) = h.filter(|h| h.id == id && (h.ours_from..=h.committed).contains(&committed))
        else {
            return Verdict::Unknown;
        };
        // Where this collector's bytes end: at the recorded checkpoint, or
        // after what landed of the recorded write.
        let ours_to = if h.clean {
            h.committed
        } else {
            // Written without fsync: after a reboot it may be older than the file.
            let Some(start) = h
                .start
                .filter(|&s| h.boot == self.boot && s >= h.committed && s <= now)
            else {
                return Verdict::Unknown;
            };
            let landed = match (h.len, h.copy) {
                // The write to the output had not begun.
                (None, _) => 0,
                (Some(len), false) => {
                    match self.common_prefix(output, start, (now - start).min(len)) {
                        Ok(n) => n,
                        Err(_) => return Verdict::Unknown,
                    }
                }
                (Some(len), true) => match self.copied_prefix(output, start, now, len) {
                    Some(n) => n,
                    None => return Verdict::Unknown,
                },
            };
            start + landed
        };
        // Bytes past `ours_to` are someone else's: cutting ours would cut
        // theirs too, unless there are none of ours.
        if ours_to == now {
            Verdict::Ours
        } else if ours_to == committed {
            Verdict::Foreign
        } else {
            Verdict::Unknown
        }
    }

    /// How many of the first `len` bytes of `output` from `at` equal the
    /// recorded bytes.
    fn common_prefix(&self, output: &File, at: u64, len: u64) -> io::Result<u64> {
        same_prefix(output, at, &self.file, HEADER as u64, len)
    }

    /// For a recorded copy (`ref_len` bytes of reference): how many of the
    /// output's bytes from `at` (up to `now`) equal the log file's bytes it
    /// names. None when that cannot be told: the log file is gone or is
    /// another file now.
    fn copied_prefix(&self, output: &File, at: u64, now: u64, ref_len: u64) -> Option<u64> {
        let mut text = vec![0u8; usize::try_from(ref_len).ok()?.min(64 << 10)];
        self.file.read_exact_at(&mut text, HEADER as u64).ok()?;
        let r = Reference::parse(&text)?;
        let src = crate::identity::open_for_reading(&r.path).ok()?;
        let meta = src.metadata().ok()?;
        if FileId::of(&meta) != r.id || reference_head(&src, r.offset, r.len).ok()? != r.head {
            return None;
        }
        same_prefix(output, at, &src, r.offset, (now - at).min(r.len)).ok()
    }

    /// After a checkpoint of `output` (file `id`) at `length`: nothing of this
    /// collector's is past it. `sync` makes that durable (at start-up, so a
    /// `clean` record from an earlier run cannot outlive this start).
    pub fn committed(&mut self, id: FileId, length: u64, sync: bool) {
        if id != self.id || self.expected != Some(length) {
            // Someone else's bytes may lie before `length`.
            self.ours_from = length;
        }
        self.id = id;
        self.committed = length;
        let r = self
            .write_header(false, false, Some(length), Some(0))
            .and_then(|()| {
                if sync {
                    self.file.sync_data()?;
                }
                Ok(())
            });
        self.check(r);
        self.expected = if self.failing { None } else { Some(length) };
    }

    /// At a clean stop, when everything written is checkpointed.
    pub fn clean(&mut self, sync: bool) {
        if self.expected != Some(self.committed) {
            // Written since: the last `writing` record stays the truth.
            return;
        }
        let r = self
            .write_header(true, false, Some(self.committed), Some(0))
            .and_then(|()| {
                if sync {
                    self.file.sync_data()?;
                }
                Ok(())
            });
        self.check(r);
    }

    /// Before `bytes` are appended to `output`.
    pub fn before_write(&mut self, output: &File, bytes: &[u8]) {
        let r = self.start(output).and_then(|start| {
            self.write_header(false, false, start, None)?;
            self.file.write_all_at(bytes, HEADER as u64)?;
            self.begin(start, bytes.len() as u64)
        });
        self.check(r);
    }

    /// Before `len` bytes of `src` from `offset` are copied to `output`.
    pub fn before_copy(&mut self, output: &File, src: &File, path: &Path, offset: u64, len: usize) {
        let r = self.record_copy(output, src, path, offset, len);
        self.check(r);
    }

    /// A record that could not be written must not be taken for one that
    /// was: it is emptied (an empty record proves nothing), and the next
    /// write tries again.
    fn check(&mut self, r: io::Result<()>) {
        let Err(e) = r else {
            self.failing = false;
            return;
        };
        self.expected = None;
        self.pending = (None, None);
        let _ = self.file.set_len(0);
        if !self.failing {
            log::warn!(
                "cannot write {}: {e}; after a crash, the restart may repeat lines",
                crate::error::show(&self.path)
            );
            self.failing = true;
        }
    }

    fn record_copy(
        &mut self,
        output: &File,
        src: &File,
        path: &Path,
        offset: u64,
        len: usize,
    ) -> io::Result<()> {
        let start = self.start(output)?;
        self.write_header(false, false, start, None)?;
        let reference = Reference {
            id: FileId::of(&src.metadata()?),
            offset,
            len: len as u64,
            head: reference_head(src, offset, len as u64)?,
            path: path.to_path_buf(),
        }
        .render();
        self.file.write_all_at(&reference, HEADER as u64)?;
        self.write_header(false, true, start, Some(reference.len() as u64))?;
        self.expected = None;
        self.pending = (start, start.map(|s| s + len as u64));
        Ok(())
    }

    /// The bytes are in the record: the header says so. Until `wrote` or
    /// `undone`, the output's length is not known to be this collector's.
    fn begin(&mut self, start: Option<u64>, len: u64) -> io::Result<()> {
        self.write_header(false, false, start, Some(len))?;
        self.expected = None;
        self.pending = (start, start.map(|s| s + len));
        Ok(())
    }

    /// The write or copy recorded last went out whole.
    pub fn wrote(&mut self) {
        self.expected = self.pending.1;
    }

    /// The copy recorded last wrote nothing (the kernel refused it, or the
    /// log file shrank and the partial copy was undone).
    pub fn undone(&mut self) {
        self.expected = self.pending.0;
    }

    /// The output was cut back to `length` (after a failed write).
    pub fn cut(&mut self, length: u64) {
        self.expected = (length == self.committed).then_some(length);
    }

    /// The output's length now, if all of it past `committed` is this
    /// collector's.
    fn start(&mut self, output: &File) -> io::Result<Option<u64>> {
        if self.expected.is_none() {
            return Ok(None);
        }
        let meta = output.metadata()?;
        let now = meta.len();
        let ours = FileId::of(&meta) == self.id && self.expected == Some(now);
        Ok(ours.then_some(now))
    }

    fn write_header(
        &mut self,
        clean: bool,
        copy: bool,
        start: Option<u64>,
        len: Option<u64>,
    ) -> io::Result<()> {
        let h = Header {
            clean,
            copy,
            boot: self.boot,
            id: self.id,
            ours_from: self.ours_from,
            committed: self.committed,
            start,
            len,
        };
        self.file.write_all_at(&render(&h), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A record in a temp dir and an output file holding `committed` bytes,
    /// checkpointed.
    fn setup(committed: &[u8]) -> (tempfile::TempDir, TailRecord, File, FileId) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut out = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .unwrap();
        out.write_all(committed).unwrap();
        let id = FileId::of(&out.metadata().unwrap());
        let mut tail = TailRecord::open(dir.path()).unwrap();
        tail.committed(id, committed.len() as u64, false);
        (dir, tail, out, id)
    }

    fn verdict(dir: &Path, out: &File, id: FileId, committed: u64) -> Verdict {
        let tail = TailRecord::open(dir).unwrap();
        let now = out.metadata().unwrap().len();
        tail.judge(out, id, committed, now)
    }

    #[test]
    fn a_write_cut_short_is_ours_and_bytes_after_it_are_not() {
        let (dir, mut tail, mut out, id) = setup(b"old\n");
        tail.before_write(&out, b"one\n");
        out.write_all(b"one\n").unwrap();
        tail.wrote();
        tail.before_write(&out, b"two\nthree\n");
        out.write_all(b"two\nth").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Ours);
        out.write_all(b"someone else\n").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Unknown);
    }

    #[test]
    fn nothing_of_ours_past_the_checkpoint_makes_the_rest_foreign() {
        let (dir, mut tail, mut out, id) = setup(b"old\n");
        tail.before_write(&out, b"mine\n");
        // Killed before the write began; another writer came.
        out.write_all(b"other\n").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Foreign);
        tail.committed(id, 10, false);
        tail.clean(false);
        out.write_all(b"more\n").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 10), Verdict::Foreign);
        // A record about another checkpoint proves nothing.
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Unknown);
    }

    #[test]
    fn an_older_checkpoint_put_back_finds_what_came_since_its_own() {
        let (dir, mut tail, mut out, id) = setup(b"old\n");
        tail.before_write(&out, b"one\n");
        out.write_all(b"one\n").unwrap();
        tail.wrote();
        tail.committed(id, 8, false);
        tail.clean(false);
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Ours);
        out.write_all(b"other\n").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Unknown);
        assert_eq!(verdict(dir.path(), &out, id, 8), Verdict::Foreign);
    }

    #[test]
    fn a_copy_cut_short_is_ours_while_its_log_file_is_there_to_tell() {
        let (dir, mut tail, mut out, id) = setup(b"old\n");
        let log_path = dir.path().join("app.log");
        std::fs::write(&log_path, b"skipped\nline one\nline two\n").unwrap();
        let log = File::open(&log_path).unwrap();
        tail.before_copy(&out, &log, &log_path, 8, 18);
        // Killed with part of the copy out.
        out.write_all(b"line one\nli").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Ours);
        // Bytes that are not what the log file holds there are not ours.
        let (dir2, mut tail2, mut out2, id2) = setup(b"old\n");
        tail2.before_copy(&out2, &log, &log_path, 8, 18);
        out2.write_all(b"line uno\n").unwrap();
        assert_eq!(verdict(dir2.path(), &out2, id2, 4), Verdict::Unknown);
        // Nothing copied yet: what is past the checkpoint is someone else's.
        let (dir3, mut tail3, mut out3, id3) = setup(b"old\n");
        tail3.before_copy(&out3, &log, &log_path, 8, 18);
        out3.write_all(b"other\n").unwrap();
        assert_eq!(verdict(dir3.path(), &out3, id3, 4), Verdict::Foreign);
        // The log file gone, or another file at its path: cannot be told.
        std::fs::remove_file(&log_path).unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Unknown);
        // (Whether or not the new file gets the old inode number back.)
        std::fs::write(&log_path, b"skipped\nLINE ONE\nline two\n").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Unknown);
    }

    #[test]
    fn a_reference_reads_back_as_written() {
        let r = Reference {
            id: FileId { dev: 2049, ino: 77 },
            offset: 1 << 40,
            len: 4 << 20,
            head: 0xfeed,
            path: PathBuf::from("/var/log/with space/\u{e9}.log"),
        };
        assert_eq!(Reference::parse(&r.render()), Some(r));
        assert_eq!(Reference::parse(b"1 2 3 ff\n/x"), None);
        assert_eq!(Reference::parse(b"1 2 3 4 ff"), None);
    }

    #[test]
    fn a_file_changed_behind_the_collector_is_never_its_own() {
        let (dir, mut tail, mut out, id) = setup(b"old\n");
        out.write_all(b"other\n").unwrap();
        tail.before_write(&out, b"mine\n");
        out.write_all(b"mine\n").unwrap();
        assert_eq!(verdict(dir.path(), &out, id, 4), Verdict::Unknown);
    }

    #[test]
    fn a_damaged_header_is_no_header() {
        let h = Header {
            clean: false,
            copy: true,
            boot: 7,
            id: FileId { dev: 1, ino: 2 },
            ours_from: 2,
            committed: 3,
            start: Some(4),
            len: None,
        };
        let mut bytes = render(&h);
        assert_eq!(parse(&bytes), Some(h));
        bytes[40] ^= 1;
        assert_eq!(parse(&bytes), None);
    }
}
