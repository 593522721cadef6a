//! Per-file state, and the pure decisions about it: where a file starts, and
//! what a new look at it means. Doing something about those decisions
//! (reading, logging, writing) is the collector's job.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::checkpoint::Entry;
use crate::config::Format;
use crate::encode::Encoder;
use crate::identity::{FileId, Fingerprint};

/// Where a tracked file is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Seen at its path this cycle; read as it grows.
    Following,
    /// No longer seen at any watched path (renamed away or deleted) but still
    /// open: read to its end. `since` is when it was last seen to grow; the
    /// final partial line, if any, goes out once it has been quiet for two
    /// intervals, and then the file is closed.
    Gone { since: Instant },
    /// Fully delivered and let go at this Unix time; remembered so that the
    /// file is not read again if it shows up once more.
    Retired { at: u64 },
    /// In the checkpoint but not seen since start-up; maybe not fully delivered.
    Missing,
}

/// One file the collector knows, keyed by its identity, not its path.
#[derive(Debug)]
pub struct Tracked {
    pub id: FileId,
    /// Birth time (ns since the epoch) where the filesystem keeps one.
    pub born: Option<u64>,
    /// The path it was first followed under: json `path`, messages, checkpoint.
    pub path: PathBuf,
    /// Where it was last seen if not at `path` (its rotated name, for
    /// `app.log*`): see `seen_at`.
    moved_to: Option<PathBuf>,
    /// The fingerprint before the last truncation: a copy made by
    /// copytruncate starts like that.
    pub before_truncation: Option<Fingerprint>,
    /// Where a symlinked path pointed when the file was taken on.
    pub target: Option<PathBuf>,
    pub encoder: Encoder,
    pub fingerprint: Fingerprint,
    /// `identity::quick_hash` of the head, for the fingerprint it was made
    /// with (stale once `fingerprint` changes).
    pub quick: Option<(Fingerprint, u64)>,
    /// Next byte to deliver; always at a line or piece boundary.
    pub offset: u64,
    /// Whether `offset` sits right after a cut piece of a long line.
    pub after_cut: bool,
    /// End of what has been looked at: `offset` plus the unfinished line.
    pub read_pos: u64,
    /// Size at the last look.
    pub size: u64,
    /// `offset`, `after_cut` and `fingerprint` as of the last saved
    /// checkpoint: where a failed cycle rolls back to.
    pub committed: (u64, bool, Fingerprint),
    pub file: Option<File>,
    pub state: State,
    /// A newer file at the same path waits until its predecessor (by sequence
    /// number) has been read up to this size: the old file's lines come first.
    pub waits_for: Option<(u64, u64)>,
    /// The final partial line of a gone file went out this cycle; let the file
    /// go once the checkpoint that covers it is saved.
    pub finished: bool,
    pub long_line_warned: bool,
    /// When the file was last seen to grow: a file that changed lately keeps
    /// its descriptor for a while, so that a rename right after a write (to
    /// any name, not only a sibling's) still finds it open.
    pub changed_at: Option<Instant>,
    /// The last cycle whose look found it (see `Collector::looks`).
    pub seen_in: u64,
    /// The file looked shorter than what was read, with its head unchanged:
    /// once may be a stale size from an NFS attribute cache, twice is a truncation.
    pub shrink_seen: bool,
}

impl Tracked {
    /// Where it was last seen: where it is opened again, since its
    /// descriptor is closed whenever it is drained.
    pub fn seen_at(&self) -> &Path {
        self.moved_to.as_deref().unwrap_or(&self.path)
    }

    /// Whether it was last seen under another name than `path`.
    pub fn moved(&self) -> bool {
        self.moved_to.is_some()
    }

    pub fn set_seen_at(&mut self, at: &Path) {
        if at.as_os_str() == self.path.as_os_str() {
            self.moved_to = None;
        } else if self
            .moved_to
            .as_deref()
            .is_none_or(|m| m.as_os_str() != at.as_os_str())
        {
            self.moved_to = Some(at.to_path_buf());
        }
    }

    pub fn new(
        id: FileId,
        path: PathBuf,
        format: Format,
        fingerprint: Fingerprint,
        offset: u64,
    ) -> Tracked {
        let encoder = Encoder::new(format, path.as_os_str().as_encoded_bytes());
        Tracked {
            id,
            born: None,
            moved_to: None,
            target: None,
            before_truncation: None,
            path,
            encoder,
            fingerprint,
            quick: None,
            offset,
            after_cut: false,
            read_pos: offset,
            size: offset,
            committed: (offset, false, fingerprint),
            file: None,
            state: State::Following,
            waits_for: None,
            finished: false,
            long_line_warned: false,
            shrink_seen: false,
            seen_in: 0,
            changed_at: None,
        }
    }

    /// A file known from the checkpoint, not yet seen.
    pub fn from_entry(e: &Entry, format: Format) -> Tracked {
        let mut t = Tracked::new(e.id, e.path.clone(), format, e.fingerprint, e.offset);
        t.born = e.born;
        t.size = e.size;
        t.before_truncation = e.prior;
        t.state = match e.retired {
            Some(at) => State::Retired { at },
            None => State::Missing,
        };
        t
    }

    /// The checkpoint line for this file.
    pub fn entry(&self) -> Entry {
        Entry {
            id: self.id,
            born: self.born,
            offset: self.offset,
            size: self.size,
            fingerprint: self.fingerprint,
            prior: self.before_truncation,
            retired: match self.state {
                State::Retired { at } => Some(at),
                _ => None,
            },
            path: self.path.clone(),
        }
    }

    /// Whether this file is read in the current cycle.
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Following | State::Gone { .. })
    }

    /// Starts over from the beginning (truncation, or new content under the same inode).
    pub fn restart(&mut self, fingerprint: Fingerprint) {
        self.offset = 0;
        self.after_cut = false;
        self.read_pos = 0;
        self.fingerprint = fingerprint;
    }

    /// Forgets everything since the last saved checkpoint.
    pub fn roll_back(&mut self) {
        (self.offset, self.after_cut, self.fingerprint) = self.committed;
        self.read_pos = self.offset;
        self.finished = false;
    }
}

/// What a new size means for a file being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing new to read.
    Unchanged,
    /// Bytes past `read_pos` to read.
    Grew,
    /// Smaller than what was already read: it was truncated (copytruncate).
    Truncated,
}

/// Classifies a look at a file: `read_pos` is how far it was read, `size` its size now.
pub fn classify(read_pos: u64, size: u64) -> Change {
    match size.cmp(&read_pos) {
        std::cmp::Ordering::Less => Change::Truncated,
        std::cmp::Ordering::Equal => Change::Unchanged,
        std::cmp::Ordering::Greater => Change::Grew,
    }
}

/// Where a file seen for the first time begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At the checkpointed offset.
    Resume(u64),
    /// At its first byte.
    Beginning,
    /// After its last complete line (`--from-end`).
    End,
}

/// Picks the start of a file that is not being followed yet.
///
/// - `checkpointed`: the offset saved for this very file (same identity and head);
/// - `at_startup`: this is the first cycle after start-up;
/// - `path_has_history`: the checkpoint names some file under this path (so a
///   new file there was created by a rotation while we were stopped).
pub fn start(
    checkpointed: Option<u64>,
    at_startup: bool,
    from_end: bool,
    path_has_history: bool,
) -> Start {
    match (checkpointed, at_startup, from_end, path_has_history) {
        (Some(offset), _, _, _) => Start::Resume(offset),
        (None, true, true, false) => Start::End,
        // Files that appear later, files without --from-end, and a new file at a
        // path whose earlier file was rotated away while we were stopped.
        (None, false, _, _) | (None, true, false, _) | (None, true, true, true) => Start::Beginning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_cases() {
        assert_eq!(classify(10, 10), Change::Unchanged);
        assert_eq!(classify(10, 11), Change::Grew);
        assert_eq!(classify(10, 9), Change::Truncated);
        assert_eq!(classify(0, 0), Change::Unchanged);
        assert_eq!(classify(u64::MAX - 1, u64::MAX), Change::Grew);
    }

    #[test]
    fn start_cases() {
        let cases = [
            // (checkpointed, at_startup, from_end, history) -> start
            ((Some(7), true, true, true), Start::Resume(7)),
            ((Some(7), false, false, false), Start::Resume(7)),
            ((None, true, true, false), Start::End),
            ((None, true, true, true), Start::Beginning),
            ((None, true, false, false), Start::Beginning),
            ((None, false, true, false), Start::Beginning),
            ((None, false, false, true), Start::Beginning),
        ];
        for ((cp, boot, end, hist), want) in cases {
            assert_eq!(
                start(cp, boot, end, hist),
                want,
                "{cp:?} {boot} {end} {hist}"
            );
        }
    }

    #[test]
    fn roll_back_returns_to_the_commit() {
        let id = FileId { dev: 1, ino: 2 };
        let mut t = Tracked::new(id, "/a".into(), Format::Raw, Fingerprint::default(), 5);
        t.offset = 50;
        t.read_pos = 60;
        t.after_cut = true;
        t.finished = true;
        t.roll_back();
        assert_eq!(
            (t.offset, t.read_pos, t.after_cut, t.finished),
            (5, 5, false, false)
        );
        let e = t.entry();
        assert_eq!((e.offset, e.retired), (5, None));
    }
}
