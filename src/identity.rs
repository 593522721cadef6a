//! What makes a file the same file: its (device, inode) and a fingerprint of
//! its first bytes. This module looks and hashes; it keeps no state between
//! cycles.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// A file's birth time in nanoseconds since the epoch, where the filesystem
/// and the system report one (statx on Linux, st_birthtime on the BSDs).
pub fn born(meta: &Metadata) -> Option<u64> {
    let since = meta
        .created()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    u64::try_from(since.as_nanos()).ok()
}

/// A file's change time (ctime) in nanoseconds since the epoch, on the
/// filesystem's clock: comparable with birth times on the same filesystem.
pub fn changed(meta: &Metadata) -> Option<u64> {
    nanos(meta.ctime(), meta.ctime_nsec())
}

/// The modification time in ns since the epoch.
pub fn modified(meta: &Metadata) -> Option<u64> {
    nanos(meta.mtime(), meta.mtime_nsec())
}

/// A time as seconds and nanoseconds since the epoch, in nanoseconds; None
/// before the epoch or past what 64 bits hold.
fn nanos(secs: i64, nsecs: i64) -> Option<u64> {
    u64::try_from(i128::from(secs) * 1_000_000_000 + i128::from(nsecs)).ok()
}

/// Takes an exclusive `flock` on `file` without waiting, held until it is
/// closed. Ok(false): another open file description holds it.
pub fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        return Ok(false);
    }
    Err(e)
}

/// What one look at a path tells.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub id: FileId,
    pub size: u64,
    pub born: Option<u64>,
    /// The change time (ctime) in nanoseconds, 0 where not known: any write,
    /// truncation or rename moves it, so an equal one says nothing happened.
    pub changed: u64,
    pub kind: Kind,
}

impl Stat {
    pub fn of(meta: &Metadata) -> Stat {
        Stat {
            id: FileId::of(meta),
            size: meta.len(),
            born: born(meta),
            changed: changed(meta).unwrap_or(0),
            kind: kind(meta),
        }
    }
}

/// Looks at `name` in the directory open as `dir`: one path component for
/// the kernel to resolve instead of the whole path, which is most of the
/// cost of an idle cycle over thousands of files.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn stat_at(dir: &File, name: &std::ffi::CStr) -> io::Result<Stat> {
    use std::os::fd::AsRawFd;
    stat_in(dir.as_raw_fd(), name)
}

/// `stat_at` by raw descriptor: `libc::AT_FDCWD` resolves `name` as a path.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn stat_in(dir: std::os::fd::RawFd, name: &std::ffi::CStr) -> io::Result<Stat> {
    // SAFETY: statx fills the zeroed buffer we pass; name is NUL-terminated.
    let st = unsafe {
        let mut st: libc::statx = std::mem::zeroed();
        let r = libc::statx(
            dir,
            name.as_ptr(),
            libc::AT_STATX_SYNC_AS_STAT,
            libc::STATX_BASIC_STATS | libc::STATX_BTIME,
            &mut st,
        );
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        st
    };
    let mode = u32::from(st.stx_mode) & libc::S_IFMT;
    let born = (st.stx_mask & libc::STATX_BTIME != 0)
        .then(|| nanos(st.stx_btime.tv_sec, i64::from(st.stx_btime.tv_nsec)))
        .flatten();
    Ok(Stat {
        id: FileId {
            dev: libc::makedev(st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        },
        size: st.stx_size,
        born,
        changed: nanos(st.stx_ctime.tv_sec, i64::from(st.stx_ctime.tv_nsec)).unwrap_or(0),
        kind: match mode {
            libc::S_IFREG => Kind::Regular,
            libc::S_IFDIR => Kind::Directory,
            libc::S_IFIFO => Kind::Fifo,
            _ => Kind::Other,
        },
    })
}

/// How many leading bytes the fingerprint covers once a file is that long.
pub const FINGERPRINT_BYTES: u64 = 1024;

/// Where a file lives on its filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A cheap hasher for maps keyed by `FileId`, looked up for every file in
/// every cycle: device and inode numbers are not chosen by an adversary, so
/// a multiply-rotate hash (as in Firefox's FxHash) spreads them well enough.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

pub type IdMap<V> = std::collections::HashMap<FileId, V, std::hash::BuildHasherDefault<IdHasher>>;
pub type IdSet = std::collections::HashSet<FileId, std::hash::BuildHasherDefault<IdHasher>>;

/// A hash of the first `len` bytes of a file (`len` <= `FINGERPRINT_BYTES`).
/// A file shorter than the window has a shorter fingerprint, and grows into a
/// longer one: `len` is kept beside the hash so the two can be compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

/// FNV-1a, 64 bits. Written out here because the hash is persisted in the
/// checkpoint file and must never change between builds or Rust releases.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// What kind of thing a path names, for deciding whether to follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Directory,
    Fifo,
    Other,
}

pub fn kind(meta: &Metadata) -> Kind {
    let t = meta.file_type();
    if t.is_file() {
        Kind::Regular
    } else if t.is_dir() {
        Kind::Directory
    } else if t.is_fifo() {
        Kind::Fifo
    } else {
        Kind::Other
    }
}

/// Opens a log file for reading. O_NONBLOCK keeps a file that was swapped for a
/// FIFO between stat and open from blocking the loop; it changes nothing for
/// regular files. The caller checks with `fstat` that it got a regular file.
///
/// On Linux the read does not touch the file's access time (O_NOATIME) where
/// that is allowed (the collector owns the file, or may act as if it did):
/// a log file read as it is written would otherwise have its inode written
/// back after every read. Once refused, it is not asked for again.
pub fn open_for_reading(path: &Path) -> io::Result<File> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static REFUSED: AtomicBool = AtomicBool::new(false);
        if !REFUSED.load(Ordering::Relaxed) {
            match OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOATIME)
                .open(path)
            {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    REFUSED.store(true, Ordering::Relaxed);
                }
                other => return other,
            }
        }
    }
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Reads as much of `buf` as the file holds at `offset`; short only at EOF.
pub fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Fingerprints the first min(size, FINGERPRINT_BYTES) bytes of an open file.
pub fn fingerprint(file: &File, size: u64) -> io::Result<Fingerprint> {
    let want = size.min(FINGERPRINT_BYTES);
    let mut head = [0u8; FINGERPRINT_BYTES as usize];
    let got = read_full_at(file, &mut head[..want as usize], 0)?;
    Ok(Fingerprint {
        len: got as u64,
        hash: fnv1a(&head[..got]),
    })
}

/// Re-checks a file whose size changed, in one read of its head: `None` if
/// the bytes `known` covers are no longer the same (the file was replaced or
/// truncated and rewritten), else the fingerprint extended to the current size.
pub fn recheck(file: &File, size: u64, known: Fingerprint) -> io::Result<Option<Fingerprint>> {
    Ok(recheck_quick(file, size, known, None)?.map(|(fp, _)| fp))
}

/// `recheck` for a file re-checked every time it grows: with `quick`, the
/// `quick_hash` of the head `known` covers, the head is compared with that
/// instead of FNV-1a, which goes a byte at a time. Also returns the quick
/// hash of the head the returned fingerprint covers, for next time.
pub fn recheck_quick(
    file: &File,
    size: u64,
    known: Fingerprint,
    quick: Option<u64>,
) -> io::Result<Option<(Fingerprint, u64)>> {
    if size < known.len {
        return Ok(None);
    }
    let want = size.min(FINGERPRINT_BYTES);
    let mut head = [0u8; FINGERPRINT_BYTES as usize];
    let got = read_full_at(file, &mut head[..want as usize], 0)? as u64;
    if got < known.len {
        return Ok(None);
    }
    let old = &head[..known.len as usize];
    let old_quick = quick_hash(old);
    let same = match quick {
        Some(q) => q == old_quick,
        None => fnv1a(old) == known.hash,
    };
    if !same {
        return Ok(None);
    }
    if got == known.len {
        // A full fingerprint, the common case: nothing more to hash.
        return Ok(Some((known, old_quick)));
    }
    let now = &head[..got as usize];
    let fp = Fingerprint {
        len: got,
        hash: fnv1a(now),
    };
    Ok(Some((fp, quick_hash(now))))
}

/// A 64-bit hash of up to a fingerprint's worth of bytes, several times
/// faster than FNV-1a: four independent lanes of eight bytes. Kept in memory
/// only; checkpoints hold FNV-1a.
pub fn quick_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lanes = [K, K.rotate_left(16), K.rotate_left(32), K.rotate_left(48)];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            *lane = (*lane ^ w).wrapping_mul(K).rotate_left(31);
        }
    }
    let mut h = fnv1a(blocks.remainder()) ^ bytes.len() as u64;
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K).rotate_left(29);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn reading_a_log_file_of_ours_leaves_its_access_time_alone() {
        use std::io::Read;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.log");
        std::fs::write(&path, b"line\n").unwrap();
        // Accessed before it was last modified: relatime would update it.
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        let f = File::options().write(true).open(&path).unwrap();
        f.set_times(std::fs::FileTimes::new().set_accessed(old))
            .unwrap();
        drop(f);
        let mut text = String::new();
        open_for_reading(&path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "line\n");
        let accessed = std::fs::metadata(&path).unwrap().accessed().unwrap();
        assert_eq!(accessed, old);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_look_by_name_in_a_directory_tells_what_a_path_stat_tells() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.log"), b"four\n").unwrap();
        std::os::unix::fs::symlink("a.log", d.path().join("link")).unwrap();
        let dir = File::open(d.path()).unwrap();
        for name in ["a.log", "link"] {
            let want = Stat::of(&std::fs::metadata(d.path().join(name)).unwrap());
            let got = stat_at(&dir, &std::ffi::CString::new(name).unwrap()).unwrap();
            assert_eq!(got.id, want.id);
            assert_eq!(
                (got.size, got.born, got.kind),
                (want.size, want.born, want.kind)
            );
        }
        let dir_look = stat_at(&dir, c".").unwrap();
        assert_eq!(dir_look.kind, Kind::Directory);
        assert!(stat_at(&dir, c"missing").is_err());
    }

    use std::io::Write;

    #[test]
    fn quick_hash_tells_heads_apart() {
        let head: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
        let base = quick_hash(&head);
        assert_eq!(base, quick_hash(&head.clone()));
        for at in [0, 7, 31, 32, 500, 1000, 1023] {
            let mut other = head.clone();
            other[at] ^= 1;
            assert_ne!(quick_hash(&other), base, "a change at {at}");
        }
        assert_ne!(quick_hash(&head[..1023]), base);
        assert_ne!(quick_hash(b""), quick_hash(b"\0"));
    }

    #[test]
    fn a_quick_recheck_agrees_with_the_full_one() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&[b'a'; 1500]).unwrap();
        let fp = fingerprint(&f, 1500).unwrap();
        let (same, q) = recheck_quick(&f, 1500, fp, None).unwrap().unwrap();
        assert_eq!(same, fp);
        assert_eq!(recheck_quick(&f, 1600, fp, Some(q)).unwrap(), Some((fp, q)));
        // A wrong quick hash means other content, like a wrong fingerprint.
        assert_eq!(recheck_quick(&f, 1600, fp, Some(q ^ 1)).unwrap(), None);
        f.write_all_at(b"b", 3).unwrap();
        assert_eq!(recheck_quick(&f, 1600, fp, Some(q)).unwrap(), None);
        assert_eq!(recheck(&f, 1600, fp).unwrap(), None);
    }

    #[test]
    fn fnv1a_known_values() {
        // Reference values of FNV-1a 64.
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn fingerprint_grows_with_a_short_file_and_stops_at_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"hello\n").unwrap();
        let r = File::open(&path).unwrap();
        let small = fingerprint(&r, 6).unwrap();
        assert_eq!(small.len, 6);
        f.write_all(&[b'x'; 2000]).unwrap();
        let full = fingerprint(&r, 2006).unwrap();
        assert_eq!(full.len, FINGERPRINT_BYTES);
        assert_eq!(
            recheck(&r, 2006, small).unwrap(),
            Some(full),
            "a grown file keeps its identity"
        );
        assert_eq!(
            recheck(&r, 1023, full).unwrap(),
            None,
            "one byte under the window cannot match"
        );
        std::fs::write(&path, b"jello\n").unwrap();
        assert_eq!(
            recheck(&r, 6, small).unwrap(),
            None,
            "a changed head is another file"
        );
    }
}
