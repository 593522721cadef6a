//! Which paths to look at this cycle. A PATH is a literal file or a pattern:
//! `*`, `?` and `[...]` in any of its components, and `**` as a whole
//! component for any number of directories, none included. A pattern is
//! walked from its base, the leading components without wildcards. Every
//! directory the walk reached is stat-ed each cycle and read again only
//! when it changed, and the paths found are rebuilt only then. Excludes
//! take paths out of what the PATHs name.
//! This module neither opens log files nor knows offsets.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::error::show;

/// Extensions of compressed rotated files. A pattern never picks these up:
/// their bytes are not text lines.
const COMPRESSED: &[&str] = &["gz", "xz", "zst", "bz2", "lz4", "zip", "Z"];

/// How many directory levels the `**` of a PATH descend at most, all of
/// them together: a bound on the walk of a deep tree.
pub const MAX_DEPTH: usize = 16;
/// How many directories the walk of one PATH enters at most.
pub const MAX_DIRS: usize = 10_000;

/// One component of a pattern below its base.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Comp {
    /// No wildcard: a directory is looked up by this name, without reading
    /// the directory above it (which may be searchable but not readable).
    Name(Vec<u8>),
    /// `*`, `?` or `[...]`: matched against the names a directory holds.
    Glob(Vec<u8>),
    /// `**`: any number of directories, none included.
    Any,
}

fn has_wildcard(name: &[u8]) -> bool {
    name.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// A PATH with wildcards, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pattern {
    /// The leading components without wildcards, as spelled (empty for a
    /// relative PATH whose first component has one).
    base: PathBuf,
    /// The components below `base`. The last one names files and is never
    /// `Any`; two `Any` never follow each other.
    comps: Vec<Comp>,
    /// The deepest level below `base` a directory is entered at.
    max_depth: usize,
}

impl Pattern {
    /// None for a PATH without wildcards. A trailing `**` stands for `**/*`:
    /// every file below.
    fn parse(path: &Path) -> Option<Pattern> {
        let mut base = PathBuf::new();
        let mut comps: Vec<Comp> = Vec::new();
        for c in path.components() {
            let bytes = c.as_os_str().as_bytes();
            if comps.is_empty() && !(matches!(c, Component::Normal(_)) && has_wildcard(bytes)) {
                base.push(c);
                continue;
            }
            let comp = if bytes == b"**" {
                Comp::Any
            } else if has_wildcard(bytes) {
                Comp::Glob(bytes.to_vec())
            } else {
                Comp::Name(bytes.to_vec())
            };
            if !(comp == Comp::Any && comps.last() == Some(&Comp::Any)) {
                comps.push(comp);
            }
        }
        if comps.is_empty() {
            return None;
        }
        if comps.last() == Some(&Comp::Any) {
            comps.push(Comp::Glob(b"*".to_vec()));
        }
        let dirs = comps.len() - 1;
        let any = comps.iter().filter(|c| **c == Comp::Any).count();
        let max_depth = if any > 0 {
            dirs - any + MAX_DEPTH
        } else {
            dirs
        };
        Some(Pattern {
            base,
            comps,
            max_depth,
        })
    }

    /// The states a directory is in once `states` lead to it: a `**` may
    /// also stand for no directory, so the component after it applies too.
    fn closure(&self, mut states: Vec<usize>) -> Vec<usize> {
        let mut i = 0;
        while i < states.len() {
            if self.comps[states[i]] == Comp::Any {
                states.push(states[i] + 1);
            }
            i += 1;
        }
        states.sort_unstable();
        states.dedup();
        states
    }
}

/// An `--exclude` pattern, matched against whole paths component by
/// component: `*`, `?` and `[...]` within one component (hidden names
/// included), `**` as a whole component for any number of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclude {
    comps: Vec<Comp>,
    /// For `DIR/**` and `DIR/**/*`, which exclude everything below the
    /// directories matching DIR: how many components DIR has. Such
    /// directories are not walked.
    tree: Option<usize>,
}

impl Exclude {
    pub fn new(pattern: &Path) -> Exclude {
        let mut comps: Vec<Comp> = Vec::new();
        for c in components(pattern) {
            let comp = if c == b"**" {
                Comp::Any
            } else {
                Comp::Glob(c.to_vec())
            };
            if !(comp == Comp::Any && comps.last() == Some(&Comp::Any)) {
                comps.push(comp);
            }
        }
        let tree = match comps.as_slice() {
            [dir @ .., Comp::Any] => Some(dir.len()),
            [dir @ .., Comp::Any, Comp::Glob(g)] if g.iter().all(|&b| b == b'*') => Some(dir.len()),
            _ => None,
        };
        Exclude { comps, tree }
    }

    /// Whether the path (as derived from its PATH) is excluded.
    pub fn matches(&self, path: &Path) -> bool {
        let parts: Vec<&[u8]> = components(path).collect();
        path_match(&self.comps, &parts)
    }

    /// Whether everything below `dir` is excluded.
    fn covers(&self, dir: &Path) -> bool {
        let Some(len) = self.tree else {
            return false;
        };
        let parts: Vec<&[u8]> = components(dir).collect();
        path_match(&self.comps[..len], &parts)
    }
}

/// A path's components as bytes; the root is `/`, which no name can be.
fn components(path: &Path) -> impl Iterator<Item = &[u8]> {
    path.components().map(|c| c.as_os_str().as_bytes())
}

fn path_match(pattern: &[Comp], parts: &[&[u8]]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((Comp::Any, rest)) => (0..=parts.len()).any(|skip| path_match(rest, &parts[skip..])),
        Some((Comp::Glob(g) | Comp::Name(g), rest)) => match parts.split_first() {
            Some((&part, more)) => {
                let hit = if part == b"/" {
                    g.as_slice() == b"/"
                } else {
                    glob_match(g, part)
                };
                hit && path_match(rest, more)
            }
            None => false,
        },
    }
}

/// One PATH as given, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The PATH exactly as given.
    pub path: PathBuf,
    /// For a PATH with wildcards: where to walk from and what to match.
    pattern: Option<Pattern>,
    /// The excludes, the same for every PATH.
    excludes: Rc<[Exclude]>,
}

impl Spec {
    /// A PATH without excludes.
    pub fn new(path: &Path) -> Spec {
        compile(&[path.to_path_buf()], &[]).remove(0)
    }

    pub fn is_pattern(&self) -> bool {
        self.pattern.is_some()
    }

    fn excluded(&self, path: &Path) -> bool {
        self.excludes.iter().any(|e| e.matches(path))
    }
}

/// The PATHs to follow, each with the excludes.
pub fn compile(paths: &[PathBuf], excludes: &[PathBuf]) -> Vec<Spec> {
    let excludes: Rc<[Exclude]> = excludes.iter().map(|e| Exclude::new(e)).collect();
    paths
        .iter()
        .map(|path| Spec {
            path: path.clone(),
            pattern: Pattern::parse(path),
            excludes: Rc::clone(&excludes),
        })
        .collect()
}

/// A path found this cycle.
#[derive(Clone, Debug)]
pub struct Found {
    /// The path as derived from the PATH (not canonicalised).
    pub path: PathBuf,
    /// For a pattern match: its directory, open, to look at it by its name
    /// (the path's last component) without resolving the whole path.
    pub at: Option<Rc<File>>,
    /// Whether it was named literally (problems with it are worth a warning)
    /// rather than matched by a pattern.
    pub literal: bool,
}

/// A directory that could not be read this cycle (or, for a pattern's base,
/// is not there). The files below it are not known to be gone.
#[derive(Debug)]
pub struct DirProblem {
    pub dir: PathBuf,
    pub error: io::Error,
}

/// The directories the patterns reached, as last seen. A directory whose
/// identity, mtime and ctime have not changed holds the same names, so it is
/// not read again: an idle cycle over thousands of files then costs a stat
/// per directory and per file, without building any list.
///
/// A directory changed twice within one tick of its filesystem's clock
/// keeps the mtime of the first change, so a listing counts only once it was
/// made `SETTLE` after that mtime was first seen; and every directory is read
/// again at least every `RELIST`, for filesystems that never update it.
#[derive(Debug, Default)]
pub struct DirCache {
    /// By path as derived from the PATH.
    dirs: HashMap<PathBuf, Node>,
    /// The specs `found` was last built from, and which of them named an
    /// existing file then (taken literally).
    specs: Vec<(Spec, bool)>,
    /// The same for this cycle, a buffer kept between cycles.
    exists: Vec<bool>,
    /// Patterns that matched nothing when `found` was last built.
    unmatched: HashSet<PathBuf>,
    /// Patterns that matched something (or had not been expanded) before
    /// and match nothing now, until taken.
    newly_unmatched: Vec<PathBuf>,
    /// The walk bounds each pattern ran into, each warned about once.
    bounded: HashSet<(PathBuf, Bound)>,
    /// Warnings not taken yet.
    notices: Vec<String>,
    /// How many directories are held open.
    held: usize,
    /// `MAX_DIRS` unless set (for tests).
    max_dirs: Option<usize>,
    /// Cycles so far.
    cycle: u64,
}

const SETTLE: Duration = Duration::from_secs(2);
/// Directories held open at most, for looking at their files by name.
const DIR_FDS: usize = 16;
const RELIST: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bound {
    Depth,
    Dirs,
}

/// A name in a directory.
type Name = Vec<u8>;
/// A subdirectory's name, and whether it is a symlink.
type Subdir = (Name, bool);
/// A file-name pattern and the names it matches.
type Matches = (Name, Kept<Vec<Name>>);

/// A directory a walk reached, and what the walks took from it.
#[derive(Debug)]
struct Node {
    /// The last stat; a path that is not a directory counts as ENOTDIR.
    stat: Result<Stamp, Saved>,
    /// When this stamp was first seen.
    since: Instant,
    /// When the stat was made that came before the last read.
    listed_at: Instant,
    /// When the last stat was made.
    looked_at: Instant,
    /// The cycle of the last stat, and of the last walk that reached it.
    checked: u64,
    reached: u64,
    /// The last stat says the names read are not to be trusted any more.
    due: bool,
    /// Something was asked for that the last read did not gather.
    unread: bool,
    /// Reached only below a directory that could not be read: what was
    /// seen in it before is kept, and it is not looked at.
    stale: bool,
    /// A PATH's base: that it is not there is a problem too.
    base: bool,
    /// The last stat or read failed in a way worth a warning.
    problem: Option<Saved>,
    /// The directory, open, while it is the one at its path.
    open: Option<Rc<File>>,
    /// Its subdirectories, when a walk goes on below it: the names, and
    /// whether each is a symlink; real ones first, each kind sorted.
    subdirs: Option<Kept<Vec<Subdir>>>,
    /// For each file-name pattern applied here, the names it matches,
    /// sorted; only matches are kept, not every name of a large directory.
    files: Vec<Matches>,
    /// For each name a walk goes on through without reading this
    /// directory, whether it is a directory.
    lits: Vec<(Name, Kept<bool>)>,
}

#[derive(Debug)]
struct Kept<T> {
    value: T,
    /// The cycle of the last walk that used it: what no walk uses is dropped.
    used: u64,
}

/// What changes when a directory's entries change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
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
struct Saved {
    kind: io::ErrorKind,
    code: Option<i32>,
}

impl Saved {
    fn of(e: &io::Error) -> Saved {
        Saved {
            kind: e.kind(),
            code: e.raw_os_error(),
        }
    }

    fn error(self) -> io::Error {
        match self.code {
            Some(code) => io::Error::from_raw_os_error(code),
            None => self.kind.into(),
        }
    }

    /// Whether the thing is not there, as opposed to "could not be told".
    fn is_absence(self) -> bool {
        matches!(
            self.kind,
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        )
    }
}

/// The path to hand the system for a directory spelled `path`.
fn fs_path(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

impl Node {
    fn new() -> Node {
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
    fn look(&mut self, path: &Path, cycle: u64, held: &mut usize) -> bool {
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
    fn refresh(&mut self, path: &Path, held: &mut usize) -> bool {
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

    fn close(&mut self, held: &mut usize) {
        if self.open.take().is_some() {
            *held -= 1;
        }
    }

    /// Asks for the names matching `pattern` in this directory.
    fn want_files(&mut self, pattern: &[u8], cycle: u64) {
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

    fn want_subdirs(&mut self, cycle: u64) {
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

    fn want_lit(&mut self, name: &[u8], cycle: u64) {
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
    fn forget_unused(&mut self, cycle: u64, held: &mut usize) {
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

/// What a directory read gives: its subdirectories and the names each
/// pattern matches.
type Entries = (Vec<Subdir>, Vec<Vec<Name>>);

/// Reads a directory: its subdirectories (if `subdirs`), each with whether
/// it is a symlink, real ones first (a directory reached both ways is
/// searched under its own path); and for each pattern, the other names it
/// matches. Each list sorted.
fn read(dir: &Path, subdirs: bool, patterns: &[&[u8]]) -> io::Result<Entries> {
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

impl DirCache {
    /// Patterns that have come to match nothing since the last call: each
    /// once when it starts out empty, and again whenever it matched
    /// something and then stopped. Only a rebuild of `found` adds to it, so
    /// an idle cycle costs nothing here.
    pub fn take_newly_unmatched(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.newly_unmatched)
    }

    /// Warnings about the walk (a bound reached), each given once.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn notice(&mut self, pattern: &Path, bound: Bound) {
        if !self.bounded.insert((pattern.to_path_buf(), bound)) {
            return;
        }
        let message = match bound {
            Bound::Depth => format!(
                "{}: directories more than {MAX_DEPTH} levels down a `**` are not searched",
                show(pattern)
            ),
            Bound::Dirs => {
                let max = self.max_dirs.unwrap_or(MAX_DIRS);
                format!(
                    "{}: reaches more than {max} directories; only the first {max} are searched",
                    show(pattern)
                )
            }
        };
        self.notices.push(message);
    }
}

/// Expands all specs into `found`, each path once, in a stable order: specs
/// in order; for a pattern, each directory's matches by name, then its
/// subdirectories by name. `found` is rebuilt only when a directory's names
/// or the specs changed; otherwise it is left as it was. Returns whether it
/// was rebuilt. `problems` gets the directories that cannot be read, every
/// cycle.
pub fn expand(
    specs: &[Spec],
    found: &mut Vec<Found>,
    problems: &mut Vec<DirProblem>,
    cache: &mut DirCache,
) -> bool {
    problems.clear();
    cache.cycle += 1;
    let cycle = cache.cycle;
    cache.exists.clear();
    let mut changed = cache.specs.len() != specs.len();
    for (i, spec) in specs.iter().enumerate() {
        // An existing file whose name contains wildcard characters is taken literally.
        let exists = spec.is_pattern() && fs::symlink_metadata(&spec.path).is_ok();
        cache.exists.push(exists);
        changed |= cache
            .specs
            .get(i)
            .is_none_or(|(s, e)| s != spec || *e != exists);
    }
    for (path, node) in cache.dirs.iter_mut() {
        if node.stale {
            continue;
        }
        changed |= node.look(path, cycle, &mut cache.held);
        changed |= node.refresh(path, &mut cache.held);
        if let Some(problem) = node.problem {
            problems.push(DirProblem {
                dir: fs_path(path).to_path_buf(),
                error: problem.error(),
            });
        }
    }
    if !changed {
        return false;
    }
    problems.clear();
    let exists = std::mem::take(&mut cache.exists);
    cache.specs = specs.iter().cloned().zip(exists.iter().copied()).collect();
    found.clear();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut unmatched = HashSet::new();
    for (spec, &exists) in specs.iter().zip(&exists) {
        let Some(pattern) = spec.pattern.as_ref().filter(|_| !exists) else {
            if !spec.excluded(&spec.path) && seen.insert(spec.path.clone()) {
                found.push(Found {
                    path: spec.path.clone(),
                    at: None,
                    literal: true,
                });
            }
            continue;
        };
        let mut walk = Walk {
            dirs: &mut cache.dirs,
            held: &mut cache.held,
            cycle,
            pattern,
            spec,
            found: &mut *found,
            seen: &mut seen,
            visited: HashSet::new(),
            entered: 0,
            max_dirs: cache.max_dirs.unwrap_or(MAX_DIRS),
            matched: false,
            base_failed: false,
            too_deep: false,
            too_many: false,
        };
        let states = pattern.closure(vec![0]);
        walk.dir(pattern.base.clone(), 0, states, false);
        let (matched, base_failed) = (walk.matched, walk.base_failed);
        let (too_deep, too_many) = (walk.too_deep, walk.too_many);
        if !matched && !base_failed {
            unmatched.insert(spec.path.clone());
        }
        if too_deep {
            cache.notice(&spec.path, Bound::Depth);
        }
        if too_many {
            cache.notice(&spec.path, Bound::Dirs);
        }
    }
    cache.exists = exists;
    let held = &mut cache.held;
    cache.dirs.retain(|_, node| {
        if node.reached != cycle {
            node.close(held);
            return false;
        }
        node.forget_unused(cycle, held);
        true
    });
    for (path, node) in &cache.dirs {
        if let Some(problem) = node.problem.filter(|_| !node.stale) {
            problems.push(DirProblem {
                dir: fs_path(path).to_path_buf(),
                error: problem.error(),
            });
        }
    }
    for path in &unmatched {
        if !cache.unmatched.contains(path) {
            cache.newly_unmatched.push(path.clone());
        }
    }
    cache.unmatched = unmatched;
    true
}

/// One pattern's walk through the directories below its base.
struct Walk<'a> {
    dirs: &'a mut HashMap<PathBuf, Node>,
    held: &'a mut usize,
    cycle: u64,
    pattern: &'a Pattern,
    spec: &'a Spec,
    found: &'a mut Vec<Found>,
    seen: &'a mut HashSet<PathBuf>,
    /// The directories entered, by identity, with the components that
    /// applied: one reached again (a symlink loop, or two ways to one
    /// directory) is not entered again where the same components apply. As
    /// there are only so many sets of components, a loop ends.
    visited: HashSet<(u64, u64, Vec<usize>)>,
    entered: usize,
    max_dirs: usize,
    matched: bool,
    /// The base could not be read: "matches nothing" would not be the news.
    base_failed: bool,
    too_deep: bool,
    too_many: bool,
}

impl Walk<'_> {
    /// Enters the directory at `path`, `depth` levels below the base, where
    /// the components `states` apply. `stale`: it lies below a directory
    /// that could not be read, so what was seen in it before is used as it
    /// is.
    fn dir(&mut self, path: PathBuf, depth: usize, states: Vec<usize>, stale: bool) {
        if self.entered >= self.max_dirs {
            self.too_many = true;
            return;
        }
        let pattern: &Pattern = self.pattern;
        let (cycle, comps) = (self.cycle, &pattern.comps);
        let last = comps.len() - 1;
        if !self.dirs.contains_key(&path) {
            self.dirs.insert(path.clone(), Node::new());
        }
        let node = self.dirs.get_mut(&path).expect("inserted above");
        let again = node.reached == cycle;
        node.stale = stale && (!again || node.stale);
        node.base = depth == 0 || (again && node.base);
        node.reached = cycle;
        if !node.stale {
            node.look(&path, cycle, self.held);
        }
        match node.stat {
            Ok(stamp) => {
                if !self.visited.insert((stamp.dev, stamp.ino, states.clone())) {
                    return;
                }
            }
            Err(e) if e.is_absence() || node.problem.is_none() => {
                self.base_failed |= depth == 0;
                return;
            }
            Err(_) => {}
        }
        self.base_failed |= depth == 0 && node.problem.is_some();
        self.entered += 1;
        let mut subdirs = false;
        for &i in &states {
            match &comps[i] {
                Comp::Glob(p) | Comp::Name(p) if i == last => node.want_files(p, cycle),
                Comp::Name(n) => node.want_lit(n, cycle),
                Comp::Glob(_) | Comp::Any => subdirs = true,
            }
        }
        if subdirs {
            node.want_subdirs(cycle);
        }
        if !node.stale {
            node.refresh(&path, self.held);
        }
        // Below a directory that cannot be read, what was seen is all there is.
        let below_stale = node.stale || node.problem.is_some();

        if let Some(Comp::Glob(p) | Comp::Name(p)) = states.contains(&last).then(|| &comps[last]) {
            let names = node
                .files
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, k)| &k.value);
            for name in names.into_iter().flatten() {
                let file = path.join(OsStr::from_bytes(name));
                if self.spec.excluded(&file) {
                    continue;
                }
                self.matched = true;
                if self.seen.insert(file.clone()) {
                    let at = node.open.as_ref().map(Rc::clone);
                    self.found.push(Found {
                        path: file,
                        at,
                        literal: false,
                    });
                }
            }
        }

        // Each subdirectory the walk goes on to, with the components that
        // apply in it.
        let mut children: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        let names = node.subdirs.as_ref().map(|k| k.value.as_slice());
        for (name, _) in names.unwrap_or_default() {
            let mut next = Vec::new();
            for &i in states.iter().filter(|&&i| i != last) {
                match &comps[i] {
                    Comp::Any if !name.starts_with(b".") => next.push(i),
                    Comp::Glob(p) if dir_matches(p, name) => next.push(i + 1),
                    _ => {}
                }
            }
            if !next.is_empty() {
                children.push((name.clone(), next));
            }
        }
        for &i in states.iter().filter(|&&i| i != last) {
            if let Comp::Name(n) = &comps[i] {
                if node.lits.iter().any(|(m, k)| m == n && k.value) {
                    match children.iter_mut().find(|(m, _)| m == n) {
                        Some((_, next)) => next.push(i + 1),
                        None => children.push((n.clone(), vec![i + 1])),
                    }
                }
            }
        }
        if children.is_empty() {
            return;
        }
        if depth >= self.pattern.max_depth {
            self.too_deep = true;
            return;
        }
        for (name, next) in children {
            let child = path.join(OsStr::from_bytes(&name));
            if self.spec.excludes.iter().any(|e| e.covers(&child)) {
                continue;
            }
            let next = pattern.closure(next);
            self.dir(child, depth + 1, next, below_stale);
        }
    }
}

/// Whether a walk goes into a subdirectory by its name: hidden ones only for
/// a component that starts with a dot, as in the shell.
fn dir_matches(pattern: &[u8], name: &[u8]) -> bool {
    (name.first() != Some(&b'.') || pattern.first() == Some(&b'.')) && glob_match(pattern, name)
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

/// Whether a directory entry is picked up by a file-name pattern: hidden names
/// only by a pattern that starts with a dot (as in the shell), and compressed
/// rotated files never.
pub fn name_matches(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    !is_compressed(name) && glob_match(pattern, name)
}

/// Whether a file name ends in the extension of a compressed file.
pub fn is_compressed(name: &[u8]) -> bool {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) => COMPRESSED.iter().any(|c| c.as_bytes() == &name[dot + 1..]),
        None => false,
    }
}

/// Shell-style matching of one file name: `*` any run, `?` one character,
/// `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` one character of a class (a `]`
/// right after the opening bracket is literal; an unclosed `[` is literal).
/// Characters are UTF-8; a byte that is not valid UTF-8 counts as one character.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where the last `*` resumes in the pattern, and how far it has swallowed.
    let mut star: Option<(usize, usize)> = None;
    while s < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    p += 1;
                    star = Some((p, s));
                    continue;
                }
                b'?' => {
                    p += 1;
                    s += char_at(&name[s..]).1;
                    continue;
                }
                b'[' => {
                    if let Some((hit, plen)) = class(&pattern[p..], char_at(&name[s..]).0) {
                        if hit {
                            p += plen;
                            s += char_at(&name[s..]).1;
                            continue;
                        }
                    } else if name[s] == b'[' {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
                c => {
                    if c == name[s] {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((resume, swallowed)) => {
                let next = swallowed + char_at(&name[swallowed..]).1;
                star = Some((resume, next));
                p = resume;
                s = next;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// The character at the start of `s` (a code point, or 0x110000 + byte for a
/// byte that is not valid UTF-8) and its length in bytes. `s` is not empty.
fn char_at(s: &[u8]) -> (u32, usize) {
    let len = match s[0] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 0,
    };
    if len > 0 && len <= s.len() {
        if let Ok(text) = std::str::from_utf8(&s[..len]) {
            if let Some(c) = text.chars().next() {
                return (c as u32, len);
            }
        }
    }
    (0x11_0000 + u32::from(s[0]), 1)
}

/// Matches character `c` against the class at the start of `pattern` (which
/// starts with `[`). Returns whether it matched and the class's length, or
/// `None` if the class is not closed.
fn class(pattern: &[u8], c: u32) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let b = *pattern.get(i)?;
        if b == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let (lo, len) = char_at(&pattern[i..]);
        i += len;
        let is_range =
            pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|&b| b != b']');
        if is_range {
            let (hi, len) = char_at(&pattern[i + 1..]);
            i += 1 + len;
            hit |= lo <= c && c <= hi;
        } else {
            hit |= lo == c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_cases() {
        let yes: &[(&str, &str)] = &[
            ("*.log", "app.log"),
            ("*.log", ".log.log"),
            ("*", "x"),
            ("a*b*c", "aXbYbZc"),
            ("app.log*", "app.log"),
            ("app.log*", "app.log.1"),
            ("?.log", "é.log"),
            ("[abc].log", "b.log"),
            ("[a-c].log", "c.log"),
            ("[!a-c].log", "d.log"),
            ("[^a-c].log", "d.log"),
            ("[]x].log", "].log"),
            ("[é].log", "é.log"),
            ("[.log", "[.log"),
            ("**x", "abx"),
            ("a[-]b", "a-b"),
            ("a[x-]b", "a-b"),
        ];
        for (p, n) in yes {
            assert!(
                glob_match(p.as_bytes(), n.as_bytes()),
                "{p} should match {n}"
            );
        }
        let no: &[(&str, &str)] = &[
            ("*.log", "app.log.1"),
            ("?.log", "ab.log"),
            ("[abc].log", "d.log"),
            ("[!a-c].log", "a.log"),
            ("a*b", "a"),
            ("", "a"),
            ("x", ""),
            ("[a-c]", "é"),
        ];
        for (p, n) in no {
            assert!(
                !glob_match(p.as_bytes(), n.as_bytes()),
                "{p} should not match {n}"
            );
        }
        assert!(glob_match(b"*", b""));
        assert!(
            glob_match(b"?", b"\xff"),
            "an invalid byte is one character"
        );
        assert!(glob_match(b"a\xffb", b"a\xffb"));
    }

    #[test]
    fn hidden_and_compressed_names_are_left_out() {
        assert!(!name_matches(b"*", b".hidden"));
        assert!(name_matches(b".*", b".hidden"));
        assert!(!name_matches(b"app.log*", b"app.log.2.gz"));
        assert!(!name_matches(b"*", b"app.log-20261124.zst"));
        assert!(name_matches(b"app.log*", b"app.log-20261124"));
        assert!(!dir_matches(b"*", b".git"));
        assert!(dir_matches(b".*", b".git"));
        assert!(
            dir_matches(b"*", b"x.gz"),
            "a directory is not a compressed file"
        );
    }

    /// The paths `specs` expand to, with whether each is literal.
    fn expand_all(specs: &[Spec], cache: &mut DirCache) -> (Vec<PathBuf>, Vec<DirProblem>) {
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        expand(specs, &mut found, &mut problems, cache);
        (found.into_iter().map(|f| f.path).collect(), problems)
    }

    fn paths(specs: &[Spec]) -> Vec<PathBuf> {
        expand_all(specs, &mut DirCache::default()).0
    }

    fn mkfile(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x\n").unwrap();
    }

    fn under(top: &Path, names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|n| top.join(n)).collect()
    }

    #[test]
    fn patterns_split_into_a_base_and_components() {
        let p = |s: &str| Pattern::parse(Path::new(s));
        assert_eq!(p("/var/log/app.log"), None);
        let pat = p("/var/log/*/x/**/*.log").unwrap();
        assert_eq!(pat.base, Path::new("/var/log"));
        assert_eq!(
            pat.comps,
            [
                Comp::Glob(b"*".to_vec()),
                Comp::Name(b"x".to_vec()),
                Comp::Any,
                Comp::Glob(b"*.log".to_vec())
            ]
        );
        assert_eq!(pat.max_depth, 2 + MAX_DEPTH);
        assert_eq!(p("*.log").unwrap().base, Path::new(""));
        assert_eq!(p("./*.log").unwrap().base, Path::new("."));
        assert_eq!(p("logs/*/a.log").unwrap().max_depth, 1);
        // A trailing `**` is every file below; `**/**` is one `**`.
        let pat = p("d/**/**").unwrap();
        assert_eq!(pat.comps, [Comp::Any, Comp::Glob(b"*".to_vec())]);
        assert_eq!(pat.max_depth, MAX_DEPTH);
        // `**` within a component is a `*`.
        assert_eq!(p("d/a**").unwrap().comps, [Comp::Glob(b"a**".to_vec())]);
    }

    #[test]
    fn expand_reads_each_directory_once_and_keeps_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a.log", "b.log", "c.txt", "a.log.1.gz", "we[ird].log"] {
            fs::write(d.join(name), b"x\n").unwrap();
        }
        fs::create_dir(d.join("sub.log")).unwrap();
        // The literal `we[ird].log` is also matched by `*.log`; either way it is listed once.
        let specs: Vec<Spec> = [
            d.join("*.log"),
            d.join("a.log"),
            d.join("we[ird].log"),
            d.join("missing.log"),
        ]
        .iter()
        .map(|p| Spec::new(p))
        .collect();
        assert!(specs[0].is_pattern() && !specs[1].is_pattern() && specs[2].is_pattern());
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        expand(&specs, &mut found, &mut problems, &mut DirCache::default());
        let paths: Vec<_> = found.iter().map(|f| (f.path.clone(), f.literal)).collect();
        assert_eq!(
            paths,
            [
                (d.join("a.log"), false),
                (d.join("b.log"), false),
                (d.join("we[ird].log"), false),
                (d.join("missing.log"), true),
            ]
        );
        assert!(problems.is_empty());
        let specs = [Spec::new(&d.join("nodir/*.log"))];
        expand(&specs, &mut found, &mut problems, &mut DirCache::default());
        assert!(found.is_empty());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].dir, d.join("nodir"));
    }

    #[test]
    fn cached_listings_follow_new_files_and_replaced_directories() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path().join("logs");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("a.log"), b"x\n").unwrap();
        let specs = [Spec::new(&d.join("*.log"))];
        let (mut found, mut problems, mut cache) = (Vec::new(), Vec::new(), DirCache::default());
        let names =
            |found: &[Found]| -> Vec<PathBuf> { found.iter().map(|f| f.path.clone()).collect() };
        assert!(expand(&specs, &mut found, &mut problems, &mut cache));
        assert_eq!(names(&found), [d.join("a.log")]);
        assert!(
            !expand(&specs, &mut found, &mut problems, &mut cache),
            "nothing changed"
        );
        assert_eq!(names(&found), [d.join("a.log")]);

        fs::write(d.join("b.log"), b"y\n").unwrap();
        assert!(expand(&specs, &mut found, &mut problems, &mut cache));
        assert_eq!(names(&found), [d.join("a.log"), d.join("b.log")]);

        // The same names in another directory: each is looked at in the new one.
        fs::rename(&d, top.path().join("old")).unwrap();
        fs::create_dir(&d).unwrap();
        fs::write(d.join("a.log"), b"new a\n").unwrap();
        fs::write(d.join("b.log"), b"new b\n").unwrap();
        assert!(expand(&specs, &mut found, &mut problems, &mut cache));
        for f in &found {
            let want = fs::metadata(&f.path).unwrap();
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                let dir = f.at.as_ref().expect("looked up in its directory");
                let name = f.path.file_name().unwrap().as_bytes();
                let name = std::ffi::CString::new(name).unwrap();
                let got = crate::identity::stat_at(dir, &name).unwrap();
                assert_eq!((got.id.dev, got.id.ino), (want.dev(), want.ino()));
            }
            let _ = want;
        }
    }

    #[test]
    fn wildcards_in_directory_components() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path();
        for name in [
            "x/a.log",
            "y/a.log",
            "y/b.log",
            "z/b.log",
            ".h/a.log",
            "x/in/a.log",
        ] {
            mkfile(&d.join(name));
        }
        fs::write(d.join("file"), b"not a directory\n").unwrap();
        let got = paths(&[Spec::new(&d.join("*/a.log"))]);
        assert_eq!(got, under(d, &["x/a.log", "y/a.log"]));
        let got = paths(&[Spec::new(&d.join("[xz]/*.log"))]);
        assert_eq!(got, under(d, &["x/a.log", "z/b.log"]));
        let got = paths(&[Spec::new(&d.join(".*/a.log"))]);
        assert_eq!(got, under(d, &[".h/a.log"]));
        let got = paths(&[Spec::new(&d.join("*/in/*.log"))]);
        assert_eq!(got, under(d, &["x/in/a.log"]));
    }

    #[test]
    fn any_depth_matches_zero_or_more_directories_but_not_hidden_ones() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path();
        for name in [
            "a.log",
            "x/b.log",
            "x/y/c.log",
            "x/y/c.log.1.gz",
            ".hidden/h.log",
            "x/.h2/z.log",
            "x/.h2/deeper/w.log",
        ] {
            mkfile(&d.join(name));
        }
        let got = paths(&[Spec::new(&d.join("**/*.log"))]);
        assert_eq!(got, under(d, &["a.log", "x/b.log", "x/y/c.log"]));
        let got = paths(&[Spec::new(&d.join("**"))]);
        assert_eq!(got, under(d, &["a.log", "x/b.log", "x/y/c.log"]));
        // Named, or matched by a component starting with a dot, a hidden
        // directory is entered; `**` below it does not enter further hidden ones.
        let got = paths(&[Spec::new(&d.join("**/.h2/**/*.log"))]);
        assert_eq!(got, under(d, &["x/.h2/z.log", "x/.h2/deeper/w.log"]));
        let got = paths(&[Spec::new(&d.join(".*/**/*.log"))]);
        assert_eq!(got, under(d, &[".hidden/h.log"]));
        let got = paths(&[Spec::new(&d.join("x/**/y/*.log"))]);
        assert_eq!(got, under(d, &["x/y/c.log"]));
    }

    #[test]
    fn depth_is_bounded_and_the_bound_warned_once() {
        let top = tempfile::tempdir().unwrap();
        let mut dir = top.path().to_path_buf();
        let mut want = Vec::new();
        for level in 0..=MAX_DEPTH + 3 {
            mkfile(&dir.join("f.log"));
            if level <= MAX_DEPTH {
                want.push(dir.join("f.log"));
            }
            dir.push("d");
        }
        let specs = [Spec::new(&top.path().join("**/*.log"))];
        let mut cache = DirCache::default();
        assert_eq!(expand_all(&specs, &mut cache).0, want);
        let notices = cache.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("more than 16 levels"), "{notices:?}");
        mkfile(&top.path().join("new.log"));
        want.insert(1, top.path().join("new.log"));
        assert_eq!(expand_all(&specs, &mut cache).0, want);
        assert!(cache.take_notices().is_empty(), "warned once");
        // Without `**`, a deep pattern goes as deep as it says.
        let deep = top.path().join("*/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/*.log");
        assert_eq!(paths(&[Spec::new(&deep)]).len(), 1);
    }

    #[test]
    fn directories_per_pattern_are_bounded() {
        let top = tempfile::tempdir().unwrap();
        let max = 20;
        for i in 0..max + 5 {
            fs::create_dir(top.path().join(format!("d{i:05}"))).unwrap();
        }
        mkfile(&top.path().join("d00000/a.log"));
        mkfile(&top.path().join(format!("d{:05}/b.log", max + 4)));
        let specs = [Spec::new(&top.path().join("**/*.log"))];
        let mut cache = DirCache {
            max_dirs: Some(max),
            ..DirCache::default()
        };
        let (got, problems) = expand_all(&specs, &mut cache);
        // The base is one of the directories entered.
        assert_eq!(got, [top.path().join("d00000/a.log")]);
        assert!(problems.is_empty());
        let notices = cache.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("only the first"), "{notices:?}");
        assert_eq!(cache.dirs.len(), max);
        assert!(expand_all(&specs, &mut cache).1.is_empty());
        assert!(cache.take_notices().is_empty(), "warned once");
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_end_and_a_directory_is_searched_once() {
        use std::os::unix::fs::symlink;
        let top = tempfile::tempdir().unwrap();
        let d = top.path();
        mkfile(&d.join("x/a.log"));
        mkfile(&d.join("x/y/b.log"));
        symlink("..", d.join("x/y/up")).unwrap();
        symlink(".", d.join("x/self")).unwrap();
        // Reached both ways, it is searched under its own path.
        symlink("x", d.join("alias")).unwrap();
        // A symlink to a directory outside is followed.
        let outside = tempfile::tempdir().unwrap();
        mkfile(&outside.path().join("o.log"));
        symlink(outside.path(), d.join("x/out")).unwrap();
        let specs = [Spec::new(&d.join("**/*.log"))];
        let mut cache = DirCache::default();
        let (got, problems) = expand_all(&specs, &mut cache);
        assert_eq!(got, under(d, &["x/a.log", "x/y/b.log", "x/out/o.log"]));
        assert!(problems.is_empty());
        assert!(
            cache.take_notices().is_empty(),
            "the loop is no bound reached"
        );
        // Reached first through a symlink where less of the pattern applies,
        // a directory is still searched where it is reached with more.
        mkfile(&d.join("b/x/f.log"));
        fs::create_dir(d.join("a")).unwrap();
        symlink("../b/x", d.join("a/link")).unwrap();
        let specs = [Spec::new(&d.join("**/x/*.log"))];
        assert_eq!(paths(&specs), under(d, &["b/x/f.log", "x/a.log"]));
    }

    #[test]
    fn excludes_take_paths_out_and_prune_directories() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path();
        for name in [
            "a.log",
            "a.1.log",
            "x/b.log",
            "x/c.1.log",
            "skip/d.log",
            "skip/in/e.log",
        ] {
            mkfile(&d.join(name));
        }
        let excludes = [PathBuf::from("**/*.1.log"), d.join("skip/**")];
        let specs = compile(&[d.join("**/*.log"), d.join("a.1.log")], &excludes);
        let mut cache = DirCache::default();
        assert_eq!(
            expand_all(&specs, &mut cache).0,
            under(d, &["a.log", "x/b.log"])
        );
        assert!(
            !cache.dirs.contains_key(&d.join("skip")),
            "an excluded tree is not walked"
        );
        // A literal PATH is excluded too.
        let specs = compile(&[d.join("a.1.log")], &excludes);
        assert!(paths(&specs).is_empty());
        // A pattern whose every match is excluded matches nothing.
        let specs = compile(&[d.join("skip/*.log")], &excludes);
        let mut cache = DirCache::default();
        assert!(expand_all(&specs, &mut cache).0.is_empty());
        assert_eq!(cache.take_newly_unmatched(), [d.join("skip/*.log")]);
    }

    #[test]
    fn exclude_matching() {
        let m =
            |pattern: &str, path: &str| Exclude::new(Path::new(pattern)).matches(Path::new(path));
        assert!(m("/var/log/*.log", "/var/log/a.log"));
        assert!(
            !m("/var/log/*.log", "/var/log/x/a.log"),
            "* stays in one component"
        );
        assert!(
            m("/var/log/**/*.log", "/var/log/a.log"),
            "** may be no directory"
        );
        assert!(m("/var/log/**/*.log", "/var/log/x/y/a.log"));
        assert!(m("**/*.log", "/var/log/a.log"), "** spans the root too");
        assert!(m("**/*.log", "a.log"));
        assert!(m("/var/log/**", "/var/log/x/a.log"));
        assert!(
            m("/var/log/*/.*", "/var/log/x/.hidden"),
            "hidden names match"
        );
        assert!(m("logs/a.log", "logs/a.log"));
        assert!(!m("logs/a.log", "/logs/a.log"));
        assert!(!m("/logs/a.log", "logs/a.log"));
        assert!(!m("*/a.log", "/a.log"), "* is no root");
        assert!(m("logs/", "logs"));
        let tree =
            |pattern: &str, dir: &str| Exclude::new(Path::new(pattern)).covers(Path::new(dir));
        assert!(tree("/a/**", "/a"));
        assert!(tree("/a/**/*", "/a"));
        assert!(tree("**/tmp/**", "/x/y/tmp"));
        assert!(!tree("/a/**/*.log", "/a"));
        assert!(!tree("/a/*", "/a"));
    }

    #[test]
    fn vanished_directories_take_their_files_without_a_problem() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path();
        mkfile(&d.join("x/a.log"));
        mkfile(&d.join("y/a.log"));
        let specs = [Spec::new(&d.join("*/a.log"))];
        let mut cache = DirCache::default();
        assert_eq!(
            expand_all(&specs, &mut cache).0,
            under(d, &["x/a.log", "y/a.log"])
        );
        fs::remove_dir_all(d.join("y")).unwrap();
        let (got, problems) = expand_all(&specs, &mut cache);
        assert_eq!(got, under(d, &["x/a.log"]));
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!cache.dirs.contains_key(&d.join("y")));
        mkfile(&d.join("new/a.log"));
        assert_eq!(
            expand_all(&specs, &mut cache).0,
            under(d, &["new/a.log", "x/a.log"])
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_directory_is_a_problem_and_keeps_what_was_seen() {
        use std::os::unix::fs::symlink;
        // A symlink loop makes the stat fail with ELOOP, for root too.
        let top = tempfile::tempdir().unwrap();
        let d = top.path().join("logs");
        mkfile(&d.join("a.log"));
        mkfile(&d.join("sub/b.log"));
        let specs = [Spec::new(&d.join("**/*.log"))];
        let mut cache = DirCache::default();
        let want = [d.join("a.log"), d.join("sub/b.log")];
        assert_eq!(expand_all(&specs, &mut cache).0, want);
        fs::rename(&d, top.path().join("moved")).unwrap();
        symlink("logs", &d).unwrap();
        let (got, problems) = expand_all(&specs, &mut cache);
        assert_eq!(got, want, "not taken for gone");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].dir, d);
        assert!(!Saved::of(&problems[0].error).is_absence());
        // Reported every cycle, found left as it was.
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        assert!(!expand(&specs, &mut found, &mut problems, &mut cache));
        assert_eq!(problems.len(), 1);
        fs::remove_file(&d).unwrap();
        fs::rename(top.path().join("moved"), &d).unwrap();
        let (got, problems) = expand_all(&specs, &mut cache);
        assert_eq!(got, want);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn an_unchanged_tree_is_not_rebuilt() {
        let top = tempfile::tempdir().unwrap();
        let d = top.path();
        for i in 0..5 {
            mkfile(&d.join(format!("d{i}/s/a.log")));
        }
        let specs = [Spec::new(&d.join("**/*.log"))];
        let (mut found, mut problems, mut cache) = (Vec::new(), Vec::new(), DirCache::default());
        assert!(expand(&specs, &mut found, &mut problems, &mut cache));
        assert_eq!(found.len(), 5);
        assert!(!expand(&specs, &mut found, &mut problems, &mut cache));
        assert_eq!(found.len(), 5);
        mkfile(&d.join("d3/s/t/b.log"));
        assert!(expand(&specs, &mut found, &mut problems, &mut cache));
        assert_eq!(found.len(), 6);
        assert!(!expand(&specs, &mut found, &mut problems, &mut cache));
    }

    #[test]
    fn relative_patterns_stay_relative() {
        let pat = Pattern::parse(Path::new("*/a.log")).unwrap();
        assert_eq!(fs_path(&pat.base), Path::new("."));
        assert_eq!(pat.base.join("x").join("a.log"), Path::new("x/a.log"));
        let pat = Pattern::parse(Path::new("./*.log")).unwrap();
        assert_eq!(pat.base.join("a.log"), Path::new("./a.log"));
    }
}
