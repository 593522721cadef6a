//! The state-dir ownership rule (see `check_ownership`), checked before
//! the collector creates or opens anything in the dir.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::STATE_FILES;
use crate::error::{show, Error, IoContext};

/// The state-dir ownership rule: the files of the state dir belong to the
/// user the collector runs as, and a collector running as root uses only a
/// state dir that root owns.
///
/// A run as root on the service's dir (`sudo log-collector --once` takes
/// `/var/lib/log-collector` by default) would replace the checkpoint file
/// with one that the service's user cannot read, and the service would fail
/// at every start; root writing in a dir another user controls could also
/// be led by a symlink planted there to overwrite any file. So root refuses
/// such a dir before creating anything in it, and a collector that finds
/// another user's files (left by an older build, or by a copy) says whose
/// they are and how to hand them over, instead of failing on the first one
/// it cannot open.
pub(super) fn check_ownership(dir: &Path) -> Result<(), Error> {
    // SAFETY: geteuid and getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let meta = fs::metadata(dir).context(|| format!("cannot use state dir {}", show(dir)))?;
    if uid == 0 && meta.uid() != 0 {
        return Err(Error::Ownership {
            message: format!(
                "state dir {} belongs to {}, and this collector runs as root: files root \
                 wrote there could not be used by their owner (the log-collector service, \
                 for its own dir)",
                show(dir),
                who(meta.uid())
            ),
            hint: "give this run its own --state-dir, or run it as the dir's owner".into(),
        });
    }
    for name in STATE_FILES {
        let path = dir.join(name);
        let owner = match fs::symlink_metadata(&path) {
            Ok(m) => m.uid(),
            Err(_) => continue,
        };
        if owner != uid {
            let real = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            return Err(Error::Ownership {
                message: format!(
                    "state file {} belongs to {}, not to {}, which this collector runs as",
                    show(&path),
                    who(owner),
                    who(uid)
                ),
                hint: format!(
                    "a collector run as that user left it: `chown -R {uid}:{gid} {}` hands \
                     the state over (with that run's positions); give such runs their own \
                     --state-dir",
                    show(&real)
                ),
            });
        }
    }
    Ok(())
}

/// `uid N`, with root named. Other names are not looked up: the ARM builds
/// are static, and glibc's user lookup would load NSS modules of another
/// glibc at run time.
fn who(uid: libc::uid_t) -> String {
    match uid {
        0 => "uid 0 (root)".into(),
        n => format!("uid {n}"),
    }
}
