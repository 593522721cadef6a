//! One pattern's walk from its base through the directories its components
//! reach, over the cached directories: the files it matches, and the
//! bounds and failures it ran into.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::cache::DirCache;
use super::glob::dir_matches;
use super::listing::Name;
use super::node::Node;
use super::pattern::{Comp, Pattern};
use super::{Found, Spec};

/// What one pattern's walk came to.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) matched: bool,
    /// The base could not be read: "matches nothing" would not be the news.
    pub(super) base_failed: bool,
    pub(super) too_deep: bool,
    pub(super) too_many: bool,
    /// A file it matched, or a directory it would have walked, was excluded.
    pub(super) excluded: bool,
}

/// Walks `pattern`, the pattern of `spec`, from its base, adding the files
/// it matches to `found` unless they are in `seen` already.
pub(super) fn walk(
    cache: &mut DirCache,
    spec: &Spec,
    pattern: &Pattern,
    found: &mut Vec<Found>,
    seen: &mut HashSet<PathBuf>,
) -> Outcome {
    let mut walk = Walk {
        max_dirs: cache.max_dirs(),
        dirs: &mut cache.dirs,
        held: &mut cache.held,
        cycle: cache.cycle,
        pattern,
        spec,
        found,
        seen,
        visited: HashSet::new(),
        entered: 0,
        outcome: Outcome::default(),
    };
    let states = pattern.closure(vec![0]);
    walk.dir(pattern.base.clone(), 0, states, false);
    walk.outcome
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
    outcome: Outcome,
}

impl Walk<'_> {
    /// Enters the directory at `path`, `depth` levels below the base, where
    /// the components `states` apply. `stale`: it lies below a directory
    /// that could not be read, so what was seen in it before is used as it
    /// is.
    fn dir(&mut self, path: PathBuf, depth: usize, states: Vec<usize>, stale: bool) {
        if self.entered >= self.max_dirs {
            self.outcome.too_many = true;
            return;
        }
        let Some(below_stale) = self.enter(&path, depth, &states, stale) else {
            return;
        };
        self.take_files(&path, &states);
        let pattern: &Pattern = self.pattern;
        let children = children(&self.dirs[&path], &pattern.comps, &states);
        if children.is_empty() {
            return;
        }
        if depth >= pattern.max_depth {
            self.outcome.too_deep = true;
            return;
        }
        for (name, next) in children {
            let child = path.join(OsStr::from_bytes(&name));
            if self.spec.excludes.iter().any(|e| e.covers(&child)) {
                self.outcome.excluded = true;
                continue;
            }
            let next = pattern.closure(next);
            self.dir(child, depth + 1, next, below_stale);
        }
    }

    /// Marks the directory at `path` reached, looks at it and has it read
    /// what the components `states` need. Returns None if the walk does not
    /// go on in it (not there, or entered already with these components),
    /// else whether what lies below it is stale.
    fn enter(&mut self, path: &Path, depth: usize, states: &[usize], stale: bool) -> Option<bool> {
        let cycle = self.cycle;
        if !self.dirs.contains_key(path) {
            self.dirs.insert(path.to_path_buf(), Node::new());
        }
        let node = self.dirs.get_mut(path).expect("inserted above");
        let again = node.reached == cycle;
        node.stale = stale && (!again || node.stale);
        node.base = depth == 0 || (again && node.base);
        node.reached = cycle;
        if !node.stale {
            node.look(path, cycle, self.held);
        }
        match node.stat {
            Ok(stamp) => {
                if !self.visited.insert((stamp.dev, stamp.ino, states.to_vec())) {
                    return None;
                }
            }
            Err(e) if e.is_absence() || node.problem.is_none() => {
                self.outcome.base_failed |= depth == 0;
                return None;
            }
            Err(_) => {}
        }
        self.outcome.base_failed |= depth == 0 && node.problem.is_some();
        self.entered += 1;
        ask(node, &self.pattern.comps, states, cycle);
        if !node.stale {
            node.refresh(path, self.held);
        }
        // Below a directory that cannot be read, what was seen is all there is.
        Some(node.stale || node.problem.is_some())
    }

    /// Adds the files in the directory at `path` that the last component
    /// matches, where it applies.
    fn take_files(&mut self, path: &Path, states: &[usize]) {
        let pattern: &Pattern = self.pattern;
        let (comps, last) = (&pattern.comps, pattern.comps.len() - 1);
        let Some(Comp::Glob(p) | Comp::Name(p)) = states.contains(&last).then(|| &comps[last])
        else {
            return;
        };
        let node = &self.dirs[path];
        let names = node
            .files
            .iter()
            .find(|(q, _)| q == p)
            .map(|(_, k)| &k.value);
        for name in names.into_iter().flatten() {
            let file = path.join(OsStr::from_bytes(name));
            if self.spec.excluded(&file) {
                self.outcome.excluded = true;
                continue;
            }
            self.outcome.matched = true;
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
}

/// Asks `node` for what the components `states` need of it: the names the
/// last component matches, whether a directory a component names is there
/// (without reading the directory, which may be searchable but not
/// readable), and the subdirectories for the others.
fn ask(node: &mut Node, comps: &[Comp], states: &[usize], cycle: u64) {
    let last = comps.len() - 1;
    let mut subdirs = false;
    for &i in states {
        match &comps[i] {
            Comp::Glob(p) | Comp::Name(p) if i == last => node.want_files(p, cycle),
            Comp::Name(n) => node.want_lit(n, cycle),
            Comp::Glob(_) | Comp::Any => subdirs = true,
        }
    }
    if subdirs {
        node.want_subdirs(cycle);
    }
}

/// Each subdirectory of `node` the walk goes on to, with the components that
/// apply in it.
fn children(node: &Node, comps: &[Comp], states: &[usize]) -> Vec<(Name, Vec<usize>)> {
    let last = comps.len() - 1;
    let mut children: Vec<(Name, Vec<usize>)> = Vec::new();
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
    children
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::super::tests::{expand_all, mkfile, paths, under};
    use super::super::{DirCache, Spec, MAX_DEPTH};

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
        let mut cache = DirCache::bounded(max);
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
}
