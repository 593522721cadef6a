//! A PATH with wildcards, compiled: the base a walk starts from (its leading
//! components without wildcards) and the components below it a walk
//! matches directories and files against.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::MAX_DEPTH;

/// One component of a pattern below its base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Comp {
    /// No wildcard: a directory is looked up by this name, without reading
    /// the directory above it (which may be searchable but not readable).
    Name(Vec<u8>),
    /// `*`, `?` or `[...]`: matched against the names a directory holds.
    Glob(Vec<u8>),
    /// `**`: any number of directories, none included.
    Any,
}

pub(super) fn has_wildcard(name: &[u8]) -> bool {
    name.iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// A PATH with wildcards, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pattern {
    /// The leading components without wildcards, as spelled (empty for a
    /// relative PATH whose first component has one).
    pub(super) base: PathBuf,
    /// The components below `base`. The last one names files and is never
    /// `Any`; two `Any` never follow each other.
    pub(super) comps: Vec<Comp>,
    /// The deepest level below `base` a directory is entered at.
    pub(super) max_depth: usize,
}

impl Pattern {
    /// None for a PATH without wildcards. A trailing `**` stands for `**/*`:
    /// every file below.
    pub(super) fn parse(path: &Path) -> Option<Pattern> {
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
    pub(super) fn closure(&self, mut states: Vec<usize>) -> Vec<usize> {
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

#[cfg(test)]
mod tests {
    use super::super::node::fs_path;
    use super::*;

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
    fn relative_patterns_stay_relative() {
        let pat = Pattern::parse(Path::new("*/a.log")).unwrap();
        assert_eq!(fs_path(&pat.base), Path::new("."));
        assert_eq!(pat.base.join("x").join("a.log"), Path::new("x/a.log"));
        let pat = Pattern::parse(Path::new("./*.log")).unwrap();
        assert_eq!(pat.base.join("a.log"), Path::new("./a.log"));
    }
}
