//! The trust check of a config file: the rule sshd's StrictModes applies,
//! to a file that names a command (the collector runs that command as its
//! own user) and to every file a collector running as root reads (its paths,
//! output and state dir are root's reach).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{show, Error};

/// Applies `check_trusted` to the config file `path` (`meta` as read) when
/// it must be safe from other users: when it names a command (`command_at`,
/// the `file:line` of its `output =` line), or whenever the collector runs
/// as root. The error names the `output =` line, else the file, and the fix.
pub(super) fn check(
    path: &Path,
    meta: &fs::Metadata,
    command_at: Option<&str>,
) -> Result<(), Error> {
    if let Some(location) = command_at {
        return check_trusted(path, meta).map_err(|problem| Error::Config {
            location: location.to_string(),
            message: format!(
                "a config file that names a command must be writable only by root or \
                 the user running the collector, but {problem}"
            ),
        });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    check_trusted(path, meta).map_err(|problem| Error::Config {
        location: show(path),
        message: format!(
            "a config file read by a collector running as root must be writable only by \
             root, but {problem}"
        ),
    })
}

/// Whether a config file could have been written by someone other than root
/// or the user running the collector, the rule sshd's StrictModes applies:
/// the file (`meta`, as read) and each directory above it, on the way as given
/// and on its real path once symlinks are resolved, must be owned by root or
/// by that user, and not writable by group or others. A directory with the
/// sticky bit (`/tmp`) may be writable by others: they cannot rename or
/// remove what they do not own there. Err says what is wrong and the fix.
fn check_trusted(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if let Some(problem) = exposure(meta.uid(), meta.mode(), false, me) {
        return Err(problem.describe("it", path, me));
    }
    let cannot = |what: &Path, e: io::Error| format!("{} cannot be checked: {e}", show(what));
    let absolute = std::env::current_dir()
        .map_err(|e| cannot(Path::new("."), e))?
        .join(path);
    let real = fs::canonicalize(path).map_err(|e| cannot(path, e))?;
    for dir in absolute.ancestors().skip(1).chain(real.ancestors().skip(1)) {
        let m = fs::metadata(dir).map_err(|e| cannot(dir, e))?;
        if let Some(problem) = exposure(m.uid(), m.mode(), true, me) {
            let what = format!("the directory {} above it", show(dir));
            return Err(problem.describe(&what, dir, me));
        }
    }
    Ok(())
}

/// Why someone else could change a file or directory.
#[derive(Debug, PartialEq, Eq)]
enum Exposure {
    /// Owned by this uid, neither root nor the user running the collector.
    Owner(u32),
    /// Writable by group or others; `mode` is the permission bits.
    Writable { mode: u32, dir: bool },
}

impl Exposure {
    /// "`what` is ...: fix", for `at`, with `me` the user running the collector.
    fn describe(&self, what: &str, at: &Path, me: u32) -> String {
        let at = show(at);
        match *self {
            Exposure::Owner(uid) if me == 0 => {
                format!("{what} is owned by uid {uid}: chown root {at}")
            }
            Exposure::Owner(uid) => format!(
                "{what} is owned by uid {uid}, neither root nor uid {me} (running the \
                 collector): chown {me} {at}"
            ),
            Exposure::Writable { mode, dir } => format!(
                "{what} is writable by group or others (mode {mode:04o}{}): chmod go-w {at}",
                if dir { ", not sticky" } else { "" }
            ),
        }
    }
}

/// What is wrong with a file or directory owned by `uid` with `mode`, for the
/// user `me`; None when only root and `me` can change it.
fn exposure(uid: u32, mode: u32, dir: bool, me: u32) -> Option<Exposure> {
    const STICKY: u32 = 0o1000;
    if uid != 0 && uid != me {
        return Some(Exposure::Owner(uid));
    }
    let sticky = dir && mode & STICKY != 0;
    if mode & 0o022 != 0 && !sticky {
        return Some(Exposure::Writable {
            mode: mode & 0o7777,
            dir,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_change_a_config_file_that_names_a_command() {
        let writable = |mode, dir| Some(Exposure::Writable { mode, dir });
        // (owner, mode, is a directory, running as) -> what is wrong
        let cases = [
            (0, 0o644, false, 0, None),
            (0, 0o600, false, 1000, None),
            (1000, 0o640, false, 1000, None),
            (65534, 0o644, false, 0, Some(Exposure::Owner(65534))),
            (1001, 0o600, false, 1000, Some(Exposure::Owner(1001))),
            (0, 0o666, false, 0, writable(0o666, false)),
            (0, 0o664, false, 0, writable(0o664, false)),
            (0, 0o646, false, 0, writable(0o646, false)),
            // The sticky bit protects entries of a directory only.
            (0, 0o1666, false, 0, writable(0o1666, false)),
            (0, 0o755, true, 0, None),
            (0, 0o1777, true, 1000, None),
            (1000, 0o1777, true, 1000, None),
            (0, 0o777, true, 0, writable(0o777, true)),
            (0, 0o775, true, 0, writable(0o775, true)),
            (65534, 0o1777, true, 0, Some(Exposure::Owner(65534))),
        ];
        for (uid, mode, dir, me, want) in cases {
            assert_eq!(
                exposure(uid, mode, dir, me),
                want,
                "uid {uid} mode {mode:o} dir {dir} me {me}"
            );
        }
        let p = Path::new("/etc/lc.conf");
        assert_eq!(
            Exposure::Owner(65534).describe("it", p, 0),
            "it is owned by uid 65534: chown root /etc/lc.conf"
        );
        assert_eq!(
            writable(0o777, true).unwrap().describe(
                "the directory /d above it",
                Path::new("/d"),
                0
            ),
            "the directory /d above it is writable by group or others (mode 0777, not sticky): \
             chmod go-w /d"
        );
    }
}
