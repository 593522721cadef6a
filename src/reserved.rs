//! The files the collector writes: the output, the stats file and the state
//! dir's files. None may be another of them or a followed file (metrics would
//! replace log lines or delivered lines, lines would corrupt the state), and
//! none is ever followed, even when a pattern matches it.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::checkpoint::STATE_FILES;
use crate::error::{show, Error};
use crate::identity::FileId;
use crate::settings::{OutputSpec, Settings};

/// Refuses settings in which two of these are one file: the stats file and a
/// PATH, the stats file and the output, the stats file or the output and a
/// file of the state dir; and a stats file path at which something other than
/// a regular file is (see `not_regular`).
pub fn check(s: &Settings) -> Result<(), Error> {
    let state: Vec<PathBuf> = STATE_FILES.iter().map(|n| s.state_dir.join(n)).collect();
    let output = match &s.output {
        OutputSpec::Path(p) => Some(p),
        _ => None,
    };
    let clash = |message: String| Error::Usage {
        message,
        hint: Some("give each of them a path of its own".into()),
    };
    if let Some(stats) = &s.stats_file {
        if let Some(p) = s.paths.iter().find(|p| same_file(stats, p)) {
            return Err(clash(format!(
                "--stats-file '{}' is PATH '{}': metrics would replace the lines to follow",
                show(stats),
                show(p)
            )));
        }
        if let Some(out) = output.filter(|out| same_file(stats, out)) {
            return Err(clash(format!(
                "--stats-file '{}' is --output '{}': metrics would replace the delivered lines",
                show(stats),
                show(out)
            )));
        }
        if let Some(f) = state.iter().find(|f| same_file(stats, f)) {
            return Err(clash(format!(
                "--stats-file '{}' is '{}' of the state dir: metrics would replace the state",
                show(stats),
                show(f)
            )));
        }
        if let Some(kind) = not_regular(stats) {
            return Err(Error::usage(format!(
                "--stats-file '{}' is {kind}, not a regular file: give the path of a regular \
                 file, or of nothing yet (it is replaced by a new file every time)",
                show(stats)
            )));
        }
    }
    if let Some(out) = output {
        if let Some(f) = state.iter().find(|f| same_file(out, f)) {
            return Err(clash(format!(
                "--output '{}' is '{}' of the state dir: lines would corrupt the state",
                show(out),
                show(f)
            )));
        }
    }
    Ok(())
}

/// What is at `path` when it is there and not a regular file: the stats file
/// is replaced by renaming a new file over it, which would put a regular file
/// in place of a device, FIFO or symlink (not write through it), and fail
/// over a directory. Nothing there, or what cannot be looked at, is for the
/// write to report.
fn not_regular(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = fs::symlink_metadata(path).ok()?.file_type();
    if t.is_file() {
        return None;
    }
    let kind = if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "something"
    };
    Some(kind)
}

/// The files the collector writes besides its output, each with what it is
/// (for the message saying why it is not followed).
pub fn not_to_follow(s: &Settings) -> Vec<(PathBuf, &'static str)> {
    let mut v: Vec<(PathBuf, &'static str)> = STATE_FILES
        .iter()
        .map(|n| (s.state_dir.join(n), "a file of the state dir"))
        .collect();
    if let Some(stats) = &s.stats_file {
        v.push((stats.clone(), "the stats file"));
    }
    v
}

/// Whether two paths name one file: by identity where both exist, else by
/// their normalized absolute paths.
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => FileId::of(&x) == FileId::of(&y),
        _ => normalize(a) == normalize(b),
    }
}

/// An absolute path without `.` and `..`, its longest existing ancestor
/// canonical (symbolic links resolved).
fn normalize(p: &Path) -> PathBuf {
    if let Ok(c) = fs::canonicalize(p) {
        return c;
    }
    let abs = match std::env::current_dir() {
        Ok(cwd) if p.is_relative() => cwd.join(p),
        _ => p.to_path_buf(),
    };
    let mut clean = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut head = clean.as_path();
    loop {
        if let Ok(c) = fs::canonicalize(head) {
            let mut out = c;
            out.extend(rest.iter().rev());
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                head = parent;
            }
            _ => return clean,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_do_not_exist_compare_normalized() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("sub")).unwrap();
        assert!(same_file(&d.join("sub/../x.prom"), &d.join("./x.prom")));
        assert!(!same_file(&d.join("sub/x.prom"), &d.join("x.prom")));
        fs::write(d.join("a.log"), b"").unwrap();
        std::os::unix::fs::symlink(d.join("a.log"), d.join("link")).unwrap();
        assert!(same_file(&d.join("link"), &d.join("sub/../a.log")));
        std::os::unix::fs::symlink(d.join("sub"), d.join("s2")).unwrap();
        assert!(same_file(&d.join("s2/new"), &d.join("sub/new")));
    }

    #[test]
    fn only_a_regular_file_or_nothing_may_be_at_the_stats_path() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(not_regular(&d.join("new.prom")), None);
        fs::write(d.join("m.prom"), b"").unwrap();
        assert_eq!(not_regular(&d.join("m.prom")), None);
        std::os::unix::fs::symlink(d.join("m.prom"), d.join("link")).unwrap();
        assert_eq!(not_regular(&d.join("link")), Some("a symlink"));
        assert_eq!(not_regular(Path::new("/")), Some("a directory"));
        assert_eq!(
            not_regular(Path::new("/dev/null")),
            Some("a character device")
        );
    }
}
