//! The store: the state dir, created and locked, and the atomic replacement
//! of its checkpoint file (temp file, fsync, rename, fsync of the
//! directory), skipped when nothing changed.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::ownership::check_ownership;
use super::{parse, render, Checkpoint, CHECKPOINTS, CHECKPOINTS_TMP, LOCK};
use crate::error::{show, Error, IoContext};
use crate::identity::fnv1a;

/// The state dir, locked, with its checkpoint file.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    tmp: PathBuf,
    /// Held for the life of the process: the flock lives on this descriptor.
    _lock: File,
    /// A hash of the bytes last written, so an unchanged checkpoint is not
    /// written again (the bytes themselves would be kept for nothing: a
    /// megabyte with 10,000 files).
    last: (usize, u64),
}

impl Store {
    /// Creates the state dir if needed (mode 0700), takes its lock, and loads
    /// the checkpoint file if there is one.
    pub fn open(dir: &Path) -> Result<(Store, Option<Checkpoint>), Error> {
        make_dir(dir)?;
        check_ownership(dir)?;
        warn_if_shared(dir)?;
        let lock = take_lock(dir)?;
        let path = dir.join(CHECKPOINTS);
        let tmp = dir.join(CHECKPOINTS_TMP);
        remove_interrupted_save(&tmp)?;
        let (loaded, last) = load(&path)?;
        Ok((
            Store {
                dir: dir.to_path_buf(),
                path,
                tmp,
                _lock: lock,
                last,
            },
            loaded,
        ))
    }

    /// The checkpoint file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves `cp` unless it is what was last saved. Returns whether it wrote.
    /// Nothing is changed on disk until the final rename, so a failure at any
    /// point leaves the previous checkpoint in force.
    pub fn save(&mut self, cp: &Checkpoint, fsync: bool) -> io::Result<bool> {
        let bytes = render(cp);
        let hash = (bytes.len(), fnv1a(&bytes));
        if hash == self.last {
            return Ok(false);
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&self.tmp)?;
        // The umask could have narrowed the mode; make it exactly 0600.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&bytes)?;
        if fsync {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&self.tmp, &self.path)?;
        if fsync {
            // The rename is durable only once the directory is.
            File::open(&self.dir)?.sync_all()?;
        }
        self.last = hash;
        Ok(true)
    }
}

/// Creates the state dir (mode 0700) unless it is there.
fn make_dir(dir: &Path) -> Result<(), Error> {
    // Creating it would fail with "File exists", which names neither
    // the problem nor the fix.
    if let Ok(meta) = fs::metadata(dir) {
        if !meta.is_dir() {
            return Err(Error::State {
                message: format!("state dir {} is a file, not a directory", show(dir)),
                hint: "give --state-dir (or `state-dir =`) a directory, or a path \
                       that does not exist yet (it is created), or move the file away"
                    .into(),
            });
        }
    }
    if !dir.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .context(|| format!("cannot create state dir {}", show(dir)))?;
        // The umask may have narrowed the mode; make it exactly 0700.
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .context(|| format!("cannot set the mode of state dir {}", show(dir)))?;
    }
    Ok(())
}

/// Warns when other users may look into the state dir.
fn warn_if_shared(dir: &Path) -> Result<(), Error> {
    // A dir made by someone else is theirs to chmod: it may be shared.
    let meta = fs::metadata(dir).context(|| format!("cannot use state dir {}", show(dir)))?;
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn!(
            "state dir {} is open to other users (mode {:o}); chmod 0700 it",
            show(dir),
            meta.permissions().mode() & 0o777
        );
    }
    Ok(())
}

/// Opens the state dir's lock file and takes its lock, or says that
/// another collector holds it.
fn take_lock(dir: &Path) -> Result<File, Error> {
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .context(|| {
            format!(
                "cannot use state dir {}: cannot open {}",
                show(dir),
                show(&lock_path)
            )
        })?;
    match crate::identity::try_lock(&lock) {
        Ok(true) => Ok(lock),
        Ok(false) => Err(Error::LockHeld {
            lock: show(&lock_path),
        }),
        Err(e) => Err(Error::Io {
            context: format!("cannot lock {}", show(&lock_path)),
            source: e,
        }),
    }
}

/// Removes the temp file a save left behind, if one did.
fn remove_interrupted_save(tmp: &Path) -> Result<(), Error> {
    // A temp file is only ever renamed once complete and synced, so one
    // left behind is from a crash mid-save: the main file is the truth.
    match fs::remove_file(tmp) {
        Ok(()) => log::info!("removed {} left by an interrupted save", show(tmp)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::Io {
                context: format!("cannot remove {}", show(tmp)),
                source: e,
            })
        }
    }
    Ok(())
}

/// The checkpoint file at `path`, None when there is none, with the hash
/// of its bytes as `Store::last`.
fn load(path: &Path) -> Result<(Option<Checkpoint>, (usize, u64)), Error> {
    match fs::read(path) {
        Ok(bytes) => Ok((
            Some(parse(&bytes, &show(path))?),
            (bytes.len(), fnv1a(&bytes)),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((None, (0, fnv1a(b"")))),
        // Nothing is wrong with what it holds: moving it away would
        // throw away every file's position for a permission problem.
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Err(Error::State {
            message: format!("cannot read checkpoint file {}: {e}", show(path)),
            hint: "fix its ownership or permissions: the user log-collector runs \
                   as must own it and be able to read and write it (mode 0600); \
                   do not move it away, it holds every file's position"
                .into(),
        }),
        Err(e) => Err(Error::Checkpoint {
            path: show(path),
            line: 0,
            message: format!("cannot read it: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::entry;

    #[test]
    fn save_is_skipped_when_nothing_changed_and_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let (mut store, loaded) = Store::open(&state).unwrap();
        assert!(loaded.is_none());
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let cp = Checkpoint {
            output: None,
            files: vec![entry(b"/a", 5)],
        };
        assert!(store.save(&cp, true).unwrap());
        assert!(!store.save(&cp, true).unwrap());
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(Store::open(&state), Err(Error::LockHeld { .. })));
        drop(store);
        fs::write(state.join("checkpoints.tmp"), b"half a fi").unwrap();
        let (_store, loaded) = Store::open(&state).unwrap();
        assert_eq!(loaded, Some(cp));
        assert!(!state.join("checkpoints.tmp").exists());
    }
}
