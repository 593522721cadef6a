//! Which paths to look at this cycle: PATHs are either literal files or
//! patterns with `*`, `?` or `[...]` in their file-name component. Patterns are
//! re-expanded every cycle: a stat of each pattern directory, and a read of
//! it when it changed.
//! This module neither opens log files nor knows offsets.

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::hash::Hasher;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::identity::{fnv1a, IdHasher};

/// Extensions of compressed rotated files. A pattern never picks these up:
/// their bytes are not text lines.
const COMPRESSED: &[&str] = &["gz", "xz", "zst", "bz2", "lz4", "zip", "Z"];

/// One PATH as given, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The PATH exactly as given.
    pub path: PathBuf,
    /// For a pattern: the directory to read and the file-name pattern.
    pattern: Option<(PathBuf, Vec<u8>)>,
}

impl Spec {
    pub fn new(path: &Path) -> Spec {
        let name = path.file_name().map(OsStr::as_bytes).unwrap_or(b"");
        let pattern = if name.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            Some((dir, name.to_vec()))
        } else {
            None
        };
        Spec {
            path: path.to_path_buf(),
            pattern,
        }
    }

    pub fn is_pattern(&self) -> bool {
        self.pattern.is_some()
    }
}

/// A path found this cycle.
#[derive(Clone, Debug)]
pub struct Found {
    /// The path as derived from the PATH (not canonicalised).
    pub path: PathBuf,
    /// For a pattern match: its directory, open, and its name in it, to look
    /// at it without resolving the whole path.
    pub at: Option<(Rc<File>, CString)>,
    /// Whether it was named literally (problems with it are worth a warning)
    /// rather than matched by a pattern.
    pub literal: bool,
}

/// A pattern directory that could not be read this cycle.
#[derive(Debug)]
pub struct DirProblem {
    pub dir: PathBuf,
    pub error: io::Error,
}

/// Pattern directories as last read. A directory whose identity, mtime and
/// ctime have not changed holds the same names, so it is not read again:
/// an idle cycle over thousands of files then costs a stat per directory and
/// per file, without building any list.
///
/// A directory changed twice within one tick of its filesystem's clock
/// keeps the mtime of the first change, so a listing counts only once it was
/// made `SETTLE` after that mtime was first seen; and every directory is read
/// again at least every `RELIST`, for filesystems that never update it.
#[derive(Debug, Default)]
pub struct DirCache {
    dirs: HashMap<PathBuf, Listed>,
    /// The specs `found` was last built from, and which of them named an
    /// existing file then (taken literally).
    specs: Vec<(Spec, bool)>,
    /// Patterns that matched nothing when `found` was last built.
    unmatched: HashSet<PathBuf>,
    /// Patterns that matched something (or had not been expanded) before
    /// and match nothing now, until taken.
    newly_unmatched: Vec<PathBuf>,
}

const SETTLE: Duration = Duration::from_secs(2);
/// Directories held open at most, for looking at their files by name.
const DIR_FDS: usize = 16;
const RELIST: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Listed {
    stamp: Stamp,
    /// When this stamp was first seen.
    since: Instant,
    /// When the stat before the last read was made.
    listed_at: Instant,
    /// How many names it held and a hash of them: enough to tell a change,
    /// without keeping every name of a large directory.
    digest: (usize, u64),
    /// The directory, open, while it is the one at its path.
    open: Option<Rc<File>>,
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

impl DirCache {
    /// Patterns that have come to match nothing since the last call: each
    /// once when it starts out empty, and again whenever it matched
    /// something and then stopped. Only a rebuild of `found` adds to it, so
    /// an idle cycle costs nothing here.
    pub fn take_newly_unmatched(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.newly_unmatched)
    }

    /// The names in `dir` if it had to be read again (the cached digest is
    /// not known to be current), and whether they (or the directory behind
    /// the path) differ from the last ones seen.
    fn names(&mut self, dir: &Path) -> io::Result<(Option<Vec<Vec<u8>>>, bool)> {
        let now = Instant::now();
        let stamp = fs::metadata(dir).map(|m| Stamp::of(&m));
        let cached = match (&stamp, self.dirs.get(dir)) {
            (Ok(stamp), Some(l)) => {
                *stamp == l.stamp
                    && l.listed_at >= l.since + SETTLE
                    && now.duration_since(l.listed_at) < RELIST
            }
            _ => false,
        };
        if cached {
            return Ok((None, false));
        }
        let names = match list(dir) {
            Ok(names) => names,
            Err(e) => {
                self.dirs.remove(dir);
                return Err(e);
            }
        };
        let digest = digest(&names);
        let stamp = stamp?;
        let held = self.dirs.values().filter(|l| l.open.is_some()).count();
        let old = self.dirs.remove(dir);
        let same_dir = old
            .as_ref()
            .is_some_and(|l| (l.stamp.dev, l.stamp.ino) == (stamp.dev, stamp.ino));
        let open = match old.as_ref().and_then(|l| l.open.clone()) {
            Some(open) if same_dir => Some(open),
            _ if cfg!(any(target_os = "linux", target_os = "android")) && held < DIR_FDS => {
                // Checked to be the directory just listed: a directory renamed
                // in between is read again next cycle.
                File::open(dir)
                    .ok()
                    .filter(|f| {
                        f.metadata()
                            .is_ok_and(|m| (m.dev(), m.ino()) == (stamp.dev, stamp.ino))
                    })
                    .map(Rc::new)
            }
            _ => None,
        };
        let differ = match &old {
            Some(l) => !same_dir || l.digest != digest || l.open.is_some() != open.is_some(),
            None => true,
        };
        let since = match &old {
            Some(l) if l.stamp == stamp => l.since,
            _ => now,
        };
        let l = Listed {
            stamp,
            since,
            listed_at: now,
            digest,
            open,
        };
        self.dirs.insert(dir.to_path_buf(), l);
        Ok((Some(names), differ))
    }
}

/// The number of names and a hash over them, in order.
fn digest(names: &[Vec<u8>]) -> (usize, u64) {
    let mut hash = IdHasher::default();
    for name in names {
        hash.write_u64(fnv1a(name));
    }
    (names.len(), hash.finish())
}

/// Expands all specs into `found`, each path once, in a stable order: specs
/// in order, a pattern's matches sorted by name. `found` is rebuilt only
/// when a directory's names or the specs changed; otherwise it is left as
/// it was. Returns whether it was rebuilt.
pub fn expand(
    specs: &[Spec],
    found: &mut Vec<Found>,
    problems: &mut Vec<DirProblem>,
    cache: &mut DirCache,
) -> bool {
    problems.clear();
    let mut changed = cache.specs.len() != specs.len();
    let mut literal = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        // An existing file whose name contains wildcard characters is taken literally.
        let exists = spec.is_pattern() && fs::symlink_metadata(&spec.path).is_ok();
        literal.push(exists);
        changed |= cache
            .specs
            .get(i)
            .is_none_or(|(s, e)| s != spec || *e != exists);
    }
    // Names read this time; a rebuild reads the other directories too.
    let mut listed: HashMap<&Path, Vec<Vec<u8>>> = HashMap::new();
    let mut dirs_seen: HashSet<&Path> = HashSet::new();
    for (spec, exists) in specs.iter().zip(&literal) {
        let Some((dir, _)) = &spec.pattern else {
            continue;
        };
        if *exists || !dirs_seen.insert(dir.as_path()) {
            continue;
        }
        match cache.names(dir) {
            Ok((names, differ)) => {
                changed |= differ;
                if let Some(names) = names {
                    listed.insert(dir.as_path(), names);
                }
            }
            Err(error) => {
                problems.push(DirProblem {
                    dir: dir.clone(),
                    error,
                });
                changed = true;
            }
        }
    }
    if !changed {
        return false;
    }
    cache.specs = specs.iter().cloned().zip(literal.iter().copied()).collect();
    found.clear();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut unmatched = HashSet::new();
    // Directories whose names could not be read again: forgotten, so the
    // next cycle reads them anew instead of taking them as unchanged.
    let mut unlisted: Vec<&Path> = Vec::new();
    for (spec, exists) in specs.iter().zip(&literal) {
        let Some((dir, pattern)) = spec.pattern.as_ref().filter(|_| !exists) else {
            if seen.insert(spec.path.clone()) {
                found.push(Found {
                    path: spec.path.clone(),
                    at: None,
                    literal: true,
                });
            }
            continue;
        };
        let Some(cached) = cache
            .dirs
            .get(dir.as_path())
            .filter(|_| !unlisted.contains(&dir.as_path()))
        else {
            continue; // unreadable: a problem was reported
        };
        if !listed.contains_key(dir.as_path()) {
            // Unchanged, but its names were not kept. A failed listing is not
            // an empty directory: its files are reported unknown, not gone.
            match list(dir) {
                Ok(names) => {
                    listed.insert(dir.as_path(), names);
                }
                Err(error) => {
                    problems.push(DirProblem {
                        dir: dir.clone(),
                        error,
                    });
                    unlisted.push(dir.as_path());
                    continue;
                }
            }
        }
        let mut matched = false;
        for name in &listed[dir.as_path()] {
            if name_matches(pattern, name) {
                matched = true;
                let path = dir_join(&spec.path, dir, name);
                if seen.insert(path.clone()) {
                    let at = cached
                        .open
                        .as_ref()
                        .and_then(|d| Some((Rc::clone(d), CString::new(name.as_slice()).ok()?)));
                    found.push(Found {
                        path,
                        at,
                        literal: false,
                    });
                }
            }
        }
        if !matched {
            unmatched.insert(spec.path.clone());
        }
    }
    for path in &unmatched {
        if !cache.unmatched.contains(path) {
            cache.newly_unmatched.push(path.clone());
        }
    }
    cache.unmatched = unmatched;
    for dir in unlisted {
        cache.dirs.remove(dir);
    }
    true
}

/// Keeps the PATH's own spelling of the directory: `logs/*.log` matches
/// `logs/a.log`, and `*.log` matches `a.log`, not `./a.log`.
fn dir_join(spec_path: &Path, dir: &Path, name: &[u8]) -> PathBuf {
    let name = OsStr::from_bytes(name);
    match spec_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => dir.join(name),
        _ => PathBuf::from(name),
    }
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
    }

    #[test]
    fn expand_reads_each_directory_once_and_keeps_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a.log", "b.log", "c.txt", "a.log.1.gz", "we[ird].log"] {
            fs::write(d.join(name), b"x\n").unwrap();
        }
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
                let (dir, name) = f.at.as_ref().expect("looked up in its directory");
                let got = crate::identity::stat_at(dir, name).unwrap();
                assert_eq!((got.id.dev, got.id.ino), (want.dev(), want.ino()));
            }
            let _ = want;
        }
    }

    #[test]
    fn relative_patterns_stay_relative() {
        assert_eq!(
            dir_join(Path::new("*.log"), Path::new("."), b"a.log"),
            PathBuf::from("a.log")
        );
        assert_eq!(
            dir_join(Path::new("x/*.log"), Path::new("x"), b"a.log"),
            PathBuf::from("x/a.log")
        );
    }
}
