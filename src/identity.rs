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
pub fn open_for_reading(path: &Path) -> io::Result<File> {
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
    if size < known.len {
        return Ok(None);
    }
    let want = size.min(FINGERPRINT_BYTES);
    let mut head = [0u8; FINGERPRINT_BYTES as usize];
    let got = read_full_at(file, &mut head[..want as usize], 0)? as u64;
    if got < known.len || fnv1a(&head[..known.len as usize]) != known.hash {
        return Ok(None);
    }
    Ok(Some(Fingerprint {
        len: got,
        hash: fnv1a(&head[..got as usize]),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
