//! One directory the walks reached, as last seen: its stat, what the walks
//! asked of it and what its last read gave them, and whether it must be
//! read again.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::listing::{read, Name, Subdir};

const SETTLE: Duration = Duration::from_secs(2);
/// Directories held open at most, for looking at their files by name.
const DIR_FDS: usize = 16;
const RELIST: Duration = Duration::from_secs(10);

/// A file-name pattern and the names it matches.
type Matches = (Name, Kept<Vec<Name>>);

/// A directory a walk reached, and what the walks took from it.
#[derive(Debug)]
pub(super) struct Node {
    /// The last stat; a path that is not a directory counts as ENOTDIR.
    pub(super) stat: Result<Stamp, Saved>,
    /// When this stamp was first seen.
    since: Instant,
    /// When the stat was made that came before the last read.
    listed_at: Instant,
    /// When the last stat was made.
    looked_at: Instant,
    /// The cycle of the last stat, and of the last walk that reached it.
    checked: u64,
    pub(super) reached: u64,
    /// The last stat says the names read are not to be trusted any more.
    due: bool,
    /// Something was asked for that the last read did not gather.
    unread: bool,
    /// Reached only below a directory that could not be read: what was
    /// seen in it before is kept, and it is not looked at.
    pub(super) stale: bool,
    /// A PATH's base: that it is not there is a problem too.
    pub(super) base: bool,
    /// The last stat or read failed in a way worth a warning.
    pub(super) problem: Option<Saved>,
    /// The directory, open, while it is the one at its path.
    pub(super) open: Option<Rc<File>>,
    /// Its subdirectories, when a walk goes on below it: the names, and
    /// whether each is a symlink; real ones first, each kind sorted.
    pub(super) subdirs: Option<Kept<Vec<Subdir>>>,
    /// For each file-name pattern applied here, the names it matches,
    /// sorted; only matches are kept, not every name of a large directory.
    pub(super) files: Vec<Matches>,
    /// For each name a walk goes on through without reading this
    /// directory, whether it is a directory.
    pub(super) lits: Vec<(Name, Kept<bool>)>,
}

#[derive(Debug)]
pub(super) struct Kept<T> {
    pub(super) value: T,
    /// The cycle of the last walk that used it: what no walk uses is dropped.
    used: u64,
}

/// What changes when a directory's entries change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) dev: u64,
    pub(super) ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// An I/O error kept from one cycle to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Saved {
    kind: io::ErrorKind,
    code: Option<i32>,
}

impl Saved {
    pub(super) fn of(e: &io::Error) -> Saved {
        Saved {
            kind: e.kind(),
            code: e.raw_os_error(),
        }
    }

    pub(super) fn error(self) -> io::Error {
        match self.code {
            Some(code) => io::Error::from_raw_os_error(code),
            None => self.kind.into(),
        }
    }

    /// Whether the thing is not there, as opposed to "could not be told".
    pub(super) fn is_absence(self) -> bool {
        matches!(
            self.kind,
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        )
    }
}

/// The path to hand the system for a directory spelled `path`.
pub(super) fn fs_path(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

impl Node {
    pub(super) fn new() -> Node {
        let now = Instant::now();
        Node {
            stat: Err(Saved::of(&io::ErrorKind::NotFound.into())),
            since: now,
            listed_at: now,
            looked_at: now,
            checked: 0,
            reached: 0,
            due: true,
            unread: true,
            stale: false,
            base: false,
            problem: None,
            open: None,
            subdirs: None,
            files: Vec::new(),
            lits: Vec::new(),
        }
    }

    /// Stats the directory, once a cycle. Returns whether what a walk gets
    /// from it changed: it is another directory, or is gone, or came back.
    pub(super) fn look(&mut self, path: &Path, cycle: u64, held: &mut usize) -> bool {
        if self.checked == cycle {
            return false;
        }
        self.checked = cycle;
        let now = Instant::now();
        self.looked_at = now;
        let stat = fs::metadata(fs_path(path))
            .and_then(|m| match m.is_dir() {
                true => Ok(Stamp::of(&m)),
                false => Err(io::ErrorKind::NotADirectory.into()),
            })
            .map_err(|e| Saved::of(&e));
        let same_dir = match (&self.stat, &stat) {
            (Ok(a), Ok(b)) => (a.dev, a.ino) == (b.dev, b.ino),
            _ => false,
        };
        let mut differ = false;
        if !same_dir {
            differ = self.stat.is_ok() || stat.is_ok();
            self.close(held);
        }
        match stat {
            Ok(stamp) => {
                if self.stat != Ok(stamp) {
                    self.since = now;
                }
                self.due = self.stat != Ok(stamp)
                    || self.problem.is_some()
                    || self.listed_at < self.since + SETTLE
                    || now.duration_since(self.listed_at) >= RELIST;
            }
            Err(e) => {
                let problem = (self.base || !e.is_absence()).then_some(e);
                differ |= problem != self.problem;
                self.problem = problem;
            }
        }
        self.stat = stat;
        differ
    }

    /// Reads the directory again if the last stat made that due or a walk
    /// asked for something not read yet. Returns whether what a walk gets
    /// from it changed.
    pub(super) fn refresh(&mut self, path: &Path, held: &mut usize) -> bool {
        if self.stat.is_err() || !(self.due || self.unread) {
            return false;
        }
        self.due = false;
        self.unread = false;
        self.listed_at = self.looked_at;
        let dir = fs_path(path);
        let mut differ = false;
        for (name, kept) in &mut self.lits {
            let is_dir = fs::metadata(dir.join(OsStr::from_bytes(name))).is_ok_and(|m| m.is_dir());
            differ |= kept.value != is_dir;
            kept.value = is_dir;
        }
        if self.subdirs.is_none() && self.files.is_empty() {
            differ |= self.problem.take().is_some();
            return differ;
        }
        let patterns: Vec<&[u8]> = self.files.iter().map(|(p, _)| p.as_slice()).collect();
        match read(dir, self.subdirs.is_some(), &patterns) {
            Ok((subdirs, files)) => {
                if let Some(kept) = &mut self.subdirs {
                    differ |= kept.value != subdirs;
                    kept.value = subdirs;
                }
                for ((_, kept), names) in self.files.iter_mut().zip(files) {
                    differ |= kept.value != names;
                    kept.value = names;
                }
                differ |= self.problem.take().is_some();
                differ |= self.open_for_lookups(dir, held);
            }
            Err(e) => {
                let e = Saved::of(&e);
                if e.is_absence() {
                    // Gone since the stat: its files with it.
                    self.stat = Err(e);
                    self.close(held);
                    self.subdirs = self.subdirs.take().map(|k| Kept {
                        value: Vec::new(),
                        used: k.used,
                    });
                    for (_, kept) in &mut self.files {
                        kept.value.clear();
                    }
                    differ = true;
                }
                // A directory that cannot be read is not an empty one: what
                // was read before is kept.
                let problem = (self.base || !e.is_absence()).then_some(e);
                differ |= problem != self.problem;
                self.problem = problem;
            }
        }
        differ
    }

    /// Holds the directory open while it is the one just read and has files
    /// to look at, within `DIR_FDS`. Returns whether that changed.
    fn open_for_lookups(&mut self, dir: &Path, held: &mut usize) -> bool {
        let wanted =
            cfg!(any(target_os = "linux", target_os = "android")) && !self.files.is_empty();
        if !wanted {
            let had = self.open.is_some();
            self.close(held);
            return had;
        }
        if self.open.is_some() || *held >= DIR_FDS {
            return false;
        }
        let Ok(stamp) = self.stat else {
            return false;
        };
        // Checked to be the directory just read: a directory renamed in
        // between is read again next cycle.
        self.open = File::open(dir)
            .ok()
            .filter(|f| {
                f.metadata()
                    .is_ok_and(|m| (m.dev(), m.ino()) == (stamp.dev, stamp.ino))
            })
            .map(Rc::new);
        *held += usize::from(self.open.is_some());
        self.open.is_some()
    }

    pub(super) fn close(&mut self, held: &mut usize) {
        if self.open.take().is_some() {
            *held -= 1;
        }
    }

    /// Asks for the names matching `pattern` in this directory.
    pub(super) fn want_files(&mut self, pattern: &[u8], cycle: u64) {
        match self.files.iter_mut().find(|(p, _)| p == pattern) {
            Some((_, kept)) => kept.used = cycle,
            None => {
                let kept = Kept {
                    value: Vec::new(),
                    used: cycle,
                };
                self.files.push((pattern.to_vec(), kept));
                self.unread = true;
            }
        }
    }

    pub(super) fn want_subdirs(&mut self, cycle: u64) {
        match &mut self.subdirs {
            Some(kept) => kept.used = cycle,
            None => {
                self.subdirs = Some(Kept {
                    value: Vec::new(),
                    used: cycle,
                });
                self.unread = true;
            }
        }
    }

    pub(super) fn want_lit(&mut self, name: &[u8], cycle: u64) {
        match self.lits.iter_mut().find(|(n, _)| n == name) {
            Some((_, kept)) => kept.used = cycle,
            None => {
                let kept = Kept {
                    value: false,
                    used: cycle,
                };
                self.lits.push((name.to_vec(), kept));
                self.unread = true;
            }
        }
    }

    /// Drops what the last walk did not use.
    pub(super) fn forget_unused(&mut self, cycle: u64, held: &mut usize) {
        if self.subdirs.as_ref().is_some_and(|k| k.used != cycle) {
            self.subdirs = None;
        }
        self.files.retain(|(_, k)| k.used == cycle);
        self.lits.retain(|(_, k)| k.used == cycle);
        if self.files.is_empty() {
            self.close(held);
        }
    }
}
