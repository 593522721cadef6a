//! The directories the patterns reached, kept from one cycle to the next,
//! and what is known about the walks over them: which patterns match
//! nothing, which bounds were reached, and the warnings about that.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::node::{fs_path, Node};
use super::{DirProblem, Spec, MAX_DEPTH, MAX_DIRS};
use crate::error::show;

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
    pub(super) dirs: HashMap<PathBuf, Node>,
    /// The specs `found` was last built from, and which of them named an
    /// existing file then (taken literally).
    pub(super) specs: Vec<(Spec, bool)>,
    /// The same for this cycle, a buffer kept between cycles.
    pub(super) exists: Vec<bool>,
    /// Patterns that matched nothing when `found` was last built.
    unmatched: HashSet<PathBuf>,
    /// Patterns that matched something (or had not been expanded) before
    /// and match nothing now, until taken.
    newly_unmatched: Vec<PathBuf>,
    /// The unmatched patterns that match only what the excludes take out.
    only_excluded: HashSet<PathBuf>,
    /// The walk bounds each pattern ran into, each warned about once.
    bounded: HashSet<(PathBuf, Bound)>,
    /// Warnings not taken yet.
    notices: Vec<String>,
    /// How many directories are held open.
    pub(super) held: usize,
    /// `MAX_DIRS` unless set (for tests).
    max_dirs: Option<usize>,
    /// Cycles so far.
    pub(super) cycle: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Bound {
    Depth,
    Dirs,
}

impl DirCache {
    /// Patterns that have come to match nothing since the last call: each
    /// once when it starts out empty, and again whenever it matched
    /// something and then stopped. Only a rebuild of `found` adds to it, so
    /// an idle cycle costs nothing here.
    pub fn take_newly_unmatched(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.newly_unmatched)
    }

    /// Whether unmatched pattern `path` matched files (or directories to
    /// walk) that the excludes all took out.
    pub fn only_excluded(&self, path: &Path) -> bool {
        self.only_excluded.contains(path)
    }

    /// Warnings about the walk (a bound reached), each given once.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    pub(super) fn notice(&mut self, pattern: &Path, bound: Bound) {
        if !self.bounded.insert((pattern.to_path_buf(), bound)) {
            return;
        }
        let message = match bound {
            Bound::Depth => format!(
                "{}: directories more than {MAX_DEPTH} levels down a `**` are not searched",
                show(pattern)
            ),
            Bound::Dirs => {
                let max = self.max_dirs();
                format!(
                    "{}: reaches more than {max} directories; only the first {max} are searched",
                    show(pattern)
                )
            }
        };
        self.notices.push(message);
    }

    pub(super) fn max_dirs(&self) -> usize {
        self.max_dirs.unwrap_or(MAX_DIRS)
    }

    /// Stats each directory a walk reached last time (but not one reached
    /// only below a directory that could not be read, which is not looked
    /// at) and reads it again if that is due. Returns whether what a walk
    /// gets from any of them changed.
    pub(super) fn look_all(&mut self) -> bool {
        let mut changed = false;
        for (path, node) in self.dirs.iter_mut() {
            if node.stale {
                continue;
            }
            changed |= node.look(path, self.cycle, &mut self.held);
            changed |= node.refresh(path, &mut self.held);
        }
        changed
    }

    /// Drops the directories this cycle's walks did not reach, and what the
    /// walks no longer ask of the others: a pattern changed or a directory
    /// gone takes its part of the cache with it.
    pub(super) fn sweep(&mut self) {
        let (cycle, held) = (self.cycle, &mut self.held);
        self.dirs.retain(|_, node| {
            if node.reached != cycle {
                node.close(held);
                return false;
            }
            node.forget_unused(cycle, held);
            true
        });
    }

    /// Adds the directories that cannot be read. The stale ones were not
    /// looked at, so what their last look found is not news.
    pub(super) fn report(&self, problems: &mut Vec<DirProblem>) {
        for (path, node) in &self.dirs {
            if let Some(problem) = node.problem.filter(|_| !node.stale) {
                problems.push(DirProblem {
                    dir: fs_path(path).to_path_buf(),
                    error: problem.error(),
                });
            }
        }
    }

    /// Takes the patterns that match nothing as of this rebuild.
    pub(super) fn settle_unmatched(
        &mut self,
        unmatched: HashSet<PathBuf>,
        only_excluded: HashSet<PathBuf>,
    ) {
        self.only_excluded = only_excluded;
        for path in &unmatched {
            if !self.unmatched.contains(path) {
                self.newly_unmatched.push(path.clone());
            }
        }
        self.unmatched = unmatched;
    }
}

#[cfg(test)]
impl DirCache {
    /// A cache whose walks enter at most `max` directories per pattern.
    pub(super) fn bounded(max: usize) -> DirCache {
        DirCache {
            max_dirs: Some(max),
            ..DirCache::default()
        }
    }
}
