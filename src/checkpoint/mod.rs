//! The checkpoint store: the state-dir lock and the `checkpoints` file.
//!
//! The file is versioned, line-oriented text, one line per tracked file:
//!
//! ```text
//! log-collector-checkpoints 2
//! output <dev> <ino> <committed length>          (file output only)
//! file <dev> <ino> <born|-> <offset> <size> <fp length> <fp hash> <prior|-> <retired at|-> <path>
//! end <number of file lines>
//! ```
//!
//! `prior` is the fingerprint before the file was last truncated in place,
//! `length:hash`, followed in version 2 by `@` and the file's change time
//! (ns) when that truncation was seen, where known. A file that needs no
//! change time is written as version 1, which older builds read too.
//!
//! Paths are escaped (`\\`, and `\xHH` for every byte outside `!`..`~`) so
//! spaces, newlines and non-UTF-8 bytes round-trip. It is replaced atomically
//! (temp file, fsync, rename, fsync of the directory) and not rewritten when
//! nothing changed. The store records what it is given; it computes no offsets.
//!
//! `format` renders and parses the text, `store` locks the dir and saves,
//! `ownership` checks whose the dir and its files are.

use std::path::Path;

use crate::identity::{FileId, Fingerprint};

mod format;
mod ownership;
mod store;

pub use format::{escape_path, parse, render, unescape_path};
pub use store::Store;

/// The files the collector keeps in its state dir: never an output, a stats
/// file or a followed file. The output tail record is `output/tail.rs`'s.
pub const STATE_FILES: &[&str] = &[LOCK, CHECKPOINTS, CHECKPOINTS_TMP, OUTPUT_TAIL];
const LOCK: &str = "lock";
const CHECKPOINTS: &str = "checkpoints";
const CHECKPOINTS_TMP: &str = "checkpoints.tmp";
pub const OUTPUT_TAIL: &str = "output-tail";

/// One tracked file as saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: FileId,
    /// Birth time in nanoseconds since the epoch, where the filesystem keeps
    /// one: tells a recycled inode from the file that had it.
    pub born: Option<u64>,
    /// Next byte to deliver: always at a line or piece boundary.
    pub offset: u64,
    /// Size at the last look: bytes past `offset` were not delivered yet.
    pub size: u64,
    pub fingerprint: Fingerprint,
    /// The fingerprint before the file was last truncated in place
    /// (`length:hash`): a copy made by copytruncate starts like that.
    pub prior: Option<Fingerprint>,
    /// The file's change time (ns) when that truncation was seen: files
    /// beside it born no later were there before it (copies, not later
    /// generations).
    pub copies_until: Option<u64>,
    /// Unix time at which the file was fully delivered and let go, if it was.
    pub retired: Option<u64>,
    /// The path it was followed under (as derived from PATH); shared with
    /// the tracked file, so a save copies no path.
    pub path: std::rc::Rc<Path>,
}

/// The output file as of the checkpoint: bytes past `length` were never confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputMark {
    pub id: FileId,
    pub length: u64,
}

/// Everything the checkpoint file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub output: Option<OutputMark>,
    pub files: Vec<Entry>,
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;

    use super::*;

    /// A tracked file for the tests of the submodules.
    pub(super) fn entry(path: &[u8], offset: u64) -> Entry {
        Entry {
            id: FileId {
                dev: 2049,
                ino: 131,
            },
            born: Some(1_795_575_055_286_183_232),
            offset,
            size: offset + 7,
            fingerprint: Fingerprint {
                len: 1024,
                hash: 0xdead_beef,
            },
            prior: None,
            copies_until: None,
            retired: None,
            path: PathBuf::from(OsString::from_vec(path.to_vec())).into(),
        }
    }
}
