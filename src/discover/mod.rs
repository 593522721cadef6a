//! Which paths to look at this cycle. A PATH is a literal file or a pattern:
//! `*`, `?` and `[...]` in any of its components, and `**` as a whole
//! component for any number of directories, none included. A pattern is
//! walked from its base, the leading components without wildcards. Every
//! directory the walk reached is stat-ed each cycle and read again only
//! when it changed, and the paths found are rebuilt only then. Excludes
//! take paths out of what the PATHs name.
//! This module neither opens log files nor knows offsets.

mod cache;
mod exclude;
mod glob;
mod listing;
mod node;
mod pattern;
mod walk;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use cache::DirCache;
pub use exclude::{unreachable as unreachable_excludes, Exclude};
pub use glob::{glob_match, is_compressed, name_matches};
pub use listing::list;

use cache::Bound;
use pattern::Pattern;

/// How many directory levels the `**` of a PATH descend at most, all of
/// them together: a bound on the walk of a deep tree.
pub const MAX_DEPTH: usize = 16;
/// How many directories the walk of one PATH enters at most.
pub const MAX_DIRS: usize = 10_000;

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
    let mut changed = note_specs(specs, cache);
    changed |= cache.look_all();
    if changed {
        rebuild(specs, found, cache);
        cache.sweep();
    }
    cache.report(problems);
    changed
}

/// Notes for each spec whether it is taken literally this cycle. Returns
/// whether the specs, or which of them are taken literally, changed since
/// `found` was built.
fn note_specs(specs: &[Spec], cache: &mut DirCache) -> bool {
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
    changed
}

/// Builds `found` again from all specs, walking each pattern.
fn rebuild(specs: &[Spec], found: &mut Vec<Found>, cache: &mut DirCache) {
    let exists = std::mem::take(&mut cache.exists);
    cache.specs = specs.iter().cloned().zip(exists.iter().copied()).collect();
    found.clear();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut unmatched = HashSet::new();
    let mut only_excluded = HashSet::new();
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
        let outcome = walk::walk(cache, spec, pattern, found, &mut seen);
        if !outcome.matched && !outcome.base_failed {
            unmatched.insert(spec.path.clone());
            if outcome.excluded {
                only_excluded.insert(spec.path.clone());
            }
        }
        if outcome.too_deep {
            cache.notice(&spec.path, Bound::Depth);
        }
        if outcome.too_many {
            cache.notice(&spec.path, Bound::Dirs);
        }
    }
    cache.exists = exists;
    cache.settle_unmatched(unmatched, only_excluded);
}

#[cfg(test)]
mod tests {
    use super::node::Saved;
    use super::*;

    /// The paths `specs` expand to, with whether each is literal.
    pub(super) fn expand_all(
        specs: &[Spec],
        cache: &mut DirCache,
    ) -> (Vec<PathBuf>, Vec<DirProblem>) {
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        expand(specs, &mut found, &mut problems, cache);
        (found.into_iter().map(|f| f.path).collect(), problems)
    }

    pub(super) fn paths(specs: &[Spec]) -> Vec<PathBuf> {
        expand_all(specs, &mut DirCache::default()).0
    }

    pub(super) fn mkfile(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, b"x\n").unwrap();
    }

    pub(super) fn under(top: &Path, names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|n| top.join(n)).collect()
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
                use std::os::unix::ffi::OsStrExt;
                use std::os::unix::fs::MetadataExt;
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
}
