//! The `--exclude` patterns: which paths they take out of what the PATHs
//! name, and which directories they keep a walk out of.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::show;

use super::glob::glob_match;
use super::pattern::{has_wildcard, Comp};

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

/// Warnings for the excludes that can match no path any PATH names
/// (excludes are matched against whole paths as the PATHs spell them: `*.1`
/// never matches `var/log/x.1`, `/var/log/*.1` never a relative PATH's
/// paths), each with a spelling that would match; and for a literal PATH an
/// exclude takes out. `cwd` is where relative PATHs start.
pub fn unreachable(paths: &[PathBuf], excludes: &[PathBuf], cwd: Option<&Path>) -> Vec<String> {
    let shapes: Vec<Vec<Comp>> = paths.iter().map(|p| shape(p)).collect();
    let meets = |e: &Exclude| shapes.iter().any(|p| meet(p, &e.comps));
    let mut warnings = Vec::new();
    for spelled in excludes {
        let e = Exclude::new(spelled);
        if meets(&e) {
            for path in paths.iter().filter(|p| !shape(p).iter().any(is_wild)) {
                if e.matches(path) {
                    warnings.push(format!(
                        "{} is excluded by --exclude {}: it is not followed",
                        show(path),
                        show(spelled)
                    ));
                }
            }
            continue;
        }
        let fix = respellings(spelled, cwd)
            .into_iter()
            .find(|r| meets(&Exclude::new(r)));
        let hint = match fix {
            Some(r) => format!("; spell it as '{}'", show(&r)),
            None => String::new(),
        };
        warnings.push(format!(
            "--exclude {} matches no path the PATHs name (it is matched against whole \
             paths as the PATHs spell them){hint}",
            show(spelled)
        ));
    }
    warnings
}

/// Other spellings of an exclude that may be what was meant: relative to
/// `cwd`, and at any depth (`**/...`).
fn respellings(e: &Path, cwd: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(rel) = cwd.and_then(|cwd| e.strip_prefix(cwd).ok()) {
        out.push(rel.to_path_buf());
    }
    if e.is_relative() {
        out.push(Path::new("**").join(e));
    }
    if let Some(name) = e.file_name() {
        out.push(Path::new("**").join(name));
    }
    out
}

/// A PATH as components: `**` any number of them, the rest names or globs.
fn shape(path: &Path) -> Vec<Comp> {
    components(path)
        .map(|c| match c {
            b"**" => Comp::Any,
            c => Comp::Glob(c.to_vec()),
        })
        .collect()
}

fn is_wild(c: &Comp) -> bool {
    match c {
        Comp::Any => true,
        Comp::Glob(g) | Comp::Name(g) => has_wildcard(g),
    }
}

/// Whether some path matches both component patterns (`**` on either side
/// takes any number of the other's components; two globs are taken to
/// overlap, a glob and a name when the glob matches it).
fn meet(a: &[Comp], b: &[Comp]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (Some((Comp::Any, rest)), _) => (0..=b.len()).any(|k| meet(rest, &b[k..])),
        (_, Some((Comp::Any, rest))) => (0..=a.len()).any(|k| meet(&a[k..], rest)),
        (Some((Comp::Glob(x) | Comp::Name(x), ra)), Some((Comp::Glob(y) | Comp::Name(y), rb))) => {
            let overlap = match (has_wildcard(x), has_wildcard(y)) {
                (false, false) => x == y,
                (true, false) => glob_match(x, y),
                (false, true) => glob_match(y, x),
                (true, true) => true,
            };
            overlap && meet(ra, rb)
        }
        _ => false,
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
    fn excludes_that_can_match_nothing_are_told() {
        let warn = |paths: &[&str], excludes: &[&str]| {
            let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            let excludes: Vec<PathBuf> = excludes.iter().map(PathBuf::from).collect();
            unreachable(&paths, &excludes, Some(Path::new("/srv")))
        };
        assert!(warn(&["var/log/**"], &["**/*.1"]).is_empty());
        assert!(warn(&["/var/log/*.log"], &["/var/log/a.log"]).is_empty());
        assert!(warn(&["var/log/**/*.log"], &["var/log/old/**"]).is_empty());
        let w = warn(&["var/log/**"], &["*.1"]);
        assert!(w.len() == 1 && w[0].contains("'**/*.1'"), "{w:?}");
        let w = warn(&["var/log/*.log"], &["/srv/var/log/a.log"]);
        assert!(w.len() == 1 && w[0].contains("'var/log/a.log'"), "{w:?}");
        let w = warn(&["/var/log/*.log"], &["var/log/a.log"]);
        assert!(w.len() == 1 && w[0].contains("'**/var/log/a.log'"), "{w:?}");
        let w = warn(&["/var/log/app.log"], &["**/app.log"]);
        assert!(w.len() == 1 && w[0].contains("is excluded"), "{w:?}");
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
}
