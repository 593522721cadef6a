//! Reading a directory's names: the read behind a cached directory, which
//! keeps only what the walks asked for, and the plain listing of every name.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::glob::name_matches;

/// A name in a directory.
pub(super) type Name = Vec<u8>;
/// A subdirectory's name, and whether it is a symlink.
pub(super) type Subdir = (Name, bool);

/// What a directory read gives: its subdirectories and the names each
/// pattern matches.
type Entries = (Vec<Subdir>, Vec<Vec<Name>>);

/// Reads a directory: its subdirectories (if `subdirs`), each with whether
/// it is a symlink, real ones first (a directory reached both ways is
/// searched under its own path); and for each pattern, the other names it
/// matches. Each list sorted.
pub(super) fn read(dir: &Path, subdirs: bool, patterns: &[&[u8]]) -> io::Result<Entries> {
    let mut dirs = Vec::new();
    let mut files = vec![Vec::new(); patterns.len()];
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.as_bytes();
        // The entry's type comes with the name on most filesystems; only a
        // symlink takes a stat, and only when the walk goes on below.
        let (is_dir, link) = match entry.file_type() {
            Ok(t) if t.is_dir() => (true, false),
            Ok(t) if t.is_symlink() && subdirs => {
                (fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()), true)
            }
            _ => (false, false),
        };
        if is_dir {
            if subdirs {
                dirs.push((name.to_vec(), link));
            }
            continue;
        }
        for (pattern, names) in patterns.iter().zip(&mut files) {
            if name_matches(pattern, name) {
                names.push(name.to_vec());
            }
        }
    }
    dirs.sort_unstable_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    for names in &mut files {
        names.sort_unstable();
    }
    Ok((dirs, files))
}

/// The names in a directory, sorted.
pub fn list(dir: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        names.push(entry?.file_name().as_bytes().to_vec());
    }
    names.sort();
    Ok(names)
}
