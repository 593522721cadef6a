//! The `--exclude` patterns: which paths they take out of what the PATHs
//! name, and which directories they keep a walk out of.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::glob::glob_match;
use super::pattern::Comp;

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
    pub(super) fn covers(&self, dir: &Path) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
