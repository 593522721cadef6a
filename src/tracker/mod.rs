//! The lifecycle of one followed file, as a state machine.
//!
//! The collector's I/O code looks at a file and describes what it saw as an
//! [`Observation`]: a stat at a watched path, "not seen", what a search
//! beside its path found, a re-check of its head, the size its descriptor
//! reports, a read that came up short. The pure [`decide`] says what that
//! means for a file in its state: a [`Transition`]. [`Tracked::apply`] carries
//! it out. That is the only place a file's state changes, and the cursor moves
//! only through the methods here; both return the [`Event`]s (log lines,
//! counters) for the collector to emit. Reading, writing and logging stay the
//! collector's job.
//!
//! ```text
//!            seen, same head (Resume)          not seen, open (RotatedAway)
//!  Missing ------------------------> Following ----------------------------> Gone
//!  Retired                            |  ^   not seen, closed, found beside    | quiet: final
//!     ^     not found, all delivered  |  |   (FoundBeside)       ------------> | partial line,
//!     +--------- (Retire) ------------+  +-- seen again (CameBack) ------------+ then Retired
//! ```
//! A file not found with bytes undelivered becomes `Missing` (it may come
//! back); another file on its inode (`Recycled`) replaces it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::encode::Encoder;
use crate::identity::{FileId, Fingerprint};
use crate::settings::Format;

mod apply;
mod cursor;
mod decide;
mod record;

pub use apply::Next;
pub use cursor::Cursor;
pub use decide::{
    classify, decide, generation, wait, Change, Generation, HeadCheck, Observation, Predecessor,
    Sibling, Transition, Wait,
};

/// Where a tracked file is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Seen at its path this cycle; read as it grows.
    Following,
    /// No longer seen at any watched path (renamed away or deleted) but still
    /// open or found beside its path: read to its end. `since` is when it was
    /// last seen to grow; the final partial line, if any, goes out once it has
    /// been quiet for two intervals, and then the file is let go.
    Gone { since: Instant },
    /// Fully delivered and let go at this Unix time; remembered so that the
    /// file is not read again if it shows up once more.
    Retired { at: u64 },
    /// In the checkpoint but not seen since start-up, or not found with bytes
    /// undelivered: maybe not fully delivered.
    Missing,
}

/// Something for the collector to do after a transition.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Log(log::Level, String),
    Rotation,
    Truncation,
    /// Something the checkpoint records changed.
    Dirty,
}

/// Whether something last seen changing at `at` has been quiet for two
/// intervals; with `--once` there is no later look, so it always is.
pub fn quiet(at: Option<Instant>, interval: Duration, once: bool) -> bool {
    once || at.is_none_or(|at| at.elapsed() >= 2 * interval)
}

/// How many bytes before the offset each read takes again: a grown file
/// whose last delivered bytes read the same is the same file, with no
/// separate read of its head (a truncated and rewritten one differs there).
/// Longer than a typical line, so that it holds a timestamp.
pub const BEHIND: u64 = 256;
const NOT_BEHIND: u64 = u64::MAX;

/// The rarely set parts of a `Tracked`.
#[derive(Debug, Default)]
struct Aside {
    /// Where it was last seen if not at `path` (its rotated name, for
    /// `app.log*`): see `seen_at`.
    moved_to: Option<PathBuf>,
    /// The fingerprint before the last truncation: a copy made by
    /// copytruncate starts like that.
    before_truncation: Option<Fingerprint>,
    /// Its change time (ns) when that truncation was seen: siblings born no
    /// later were made before it (copies), not generations after it.
    copies_until: Option<u64>,
    /// Where a symlinked path pointed when the file was taken on.
    target: Option<PathBuf>,
}

static NO_ASIDE: Aside = Aside {
    moved_to: None,
    before_truncation: None,
    copies_until: None,
    target: None,
};

/// The `seen_in` of a settled file: it counts as seen in every look.
const SETTLED: u64 = u64::MAX;

/// One file the collector knows, keyed by its identity, not its path.
#[derive(Debug)]
pub struct Tracked {
    id: FileId,
    /// Birth time (ns since the epoch) where the filesystem keeps one.
    born: Option<u64>,
    /// The path it was first followed under: json `path`, messages,
    /// checkpoint. Shared with the collector's map of paths to files.
    path: Rc<Path>,
    /// What only some files need (kept apart: at 10,000 files every word
    /// of this struct is 80 KB).
    aside: Option<Box<Aside>>,
    encoder: Encoder,
    fingerprint: Fingerprint,
    /// `identity::quick_hash` of the head, for the fingerprint it was made
    /// with (stale once `fingerprint` changes).
    quick: Option<(Fingerprint, u64)>,
    cursor: Cursor,
    /// Size at the last look.
    size: u64,
    /// The offset the bytes `behind` was taken at end at, and their
    /// `identity::quick_hash` (`NOT_BEHIND` when unknown): what was
    /// delivered last, compared on the next read.
    behind: (u64, u64),
    /// The fingerprint as of the last saved checkpoint (the cursor keeps its
    /// own commit): where a failed cycle rolls back to.
    committed_fingerprint: Fingerprint,
    file: Option<File>,
    state: State,
    /// A newer file at the same path waits until its predecessor (by sequence
    /// number) has been read up to this size: the old file's lines come first.
    waits_for: Option<(u64, u64)>,
    /// The final partial line of a gone file went out this cycle; let the file
    /// go once the checkpoint that covers it is saved.
    finished: bool,
    long_line_warned: bool,
    /// When the file was last seen to grow: a file that changed lately keeps
    /// its descriptor for a while, so that a rename right after a write (to
    /// any name, not only a sibling's) still finds it open.
    changed_at: Option<Instant>,
    /// The last cycle whose look found it (see `Collector::looks`).
    seen_in: u64,
    /// The file looked shorter than what was read, with its head unchanged.
    shrink_seen: bool,
    /// Known from the checkpoint and not yet found or told missing: looked
    /// for beside its path until an answer comes (a failed listing is none).
    unresolved: bool,
}

impl Tracked {
    /// A file taken on now, followed under `path`, starting at `offset`.
    pub fn new(
        id: FileId,
        path: PathBuf,
        format: Format,
        fingerprint: Fingerprint,
        offset: u64,
    ) -> Tracked {
        let encoder = Encoder::new(format, path.as_os_str().as_encoded_bytes());
        let cursor = Cursor::at(offset, false);
        Tracked {
            id,
            born: None,
            aside: None,
            behind: (NOT_BEHIND, 0),
            path: Rc::from(path),
            encoder,
            fingerprint,
            quick: None,
            cursor,
            size: offset,
            committed_fingerprint: fingerprint,
            file: None,
            state: State::Following,
            waits_for: None,
            finished: false,
            long_line_warned: false,
            shrink_seen: false,
            unresolved: false,
            seen_in: 0,
            changed_at: None,
        }
    }

    /// Completes a file taken on now: its size and birth time, where it was
    /// found (`at`, when not at `path`), where its symlinked path pointed, and
    /// the predecessor whose lines go first.
    pub fn taken_on(
        mut self,
        size: u64,
        born: Option<u64>,
        at: &Path,
        target: Option<PathBuf>,
        waits_for: Option<(u64, u64)>,
    ) -> Tracked {
        self.size = size;
        self.born = born;
        self.set_seen_at(at);
        if target.is_some() {
            self.aside_mut().target = target;
        }
        self.waits_for = waits_for;
        self
    }

    pub fn id(&self) -> FileId {
        self.id
    }

    pub fn born(&self) -> Option<u64> {
        self.born
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, shared.
    pub fn shared_path(&self) -> Rc<Path> {
        Rc::clone(&self.path)
    }

    fn aside(&self) -> &Aside {
        self.aside.as_deref().unwrap_or(&NO_ASIDE)
    }

    fn aside_mut(&mut self) -> &mut Aside {
        self.aside.get_or_insert_with(Box::default)
    }

    pub fn target(&self) -> Option<&Path> {
        self.aside().target.as_deref()
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub fn before_truncation(&self) -> Option<Fingerprint> {
        self.aside().before_truncation
    }

    pub fn copies_until(&self) -> Option<u64> {
        self.aside().copies_until
    }

    /// The quick hash of the head, if it was made for the current fingerprint.
    pub fn quick(&self) -> Option<u64> {
        self.quick
            .filter(|(fp, _)| *fp == self.fingerprint)
            .map(|q| q.1)
    }

    /// Remembers the quick hash of the head `fingerprint` covers.
    pub fn set_quick(&mut self, fingerprint: Fingerprint, quick: u64) {
        self.quick = Some((fingerprint, quick));
    }

    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// A reload changed the format.
    pub fn set_format(&mut self, format: Format) {
        self.encoder = Encoder::new(format, self.path.as_os_str().as_encoded_bytes());
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    pub fn offset(&self) -> u64 {
        self.cursor.offset
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes past the offset: not delivered yet.
    pub fn lag(&self) -> u64 {
        self.size.saturating_sub(self.cursor.offset)
    }

    /// Bytes past what was looked at: to read.
    pub fn unread(&self) -> bool {
        self.cursor.read_pos < self.size
    }

    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Whether it is no longer at any watched path, read to its end through
    /// its descriptor.
    pub fn is_gone(&self) -> bool {
        matches!(self.state, State::Gone { .. })
    }

    /// Whether this file is read in the current cycle.
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Following | State::Gone { .. })
    }

    pub fn waits_for(&self) -> Option<(u64, u64)> {
        self.waits_for
    }

    /// Taken up at its offset right after a cut piece of a long line.
    pub fn resumed_after_cut(mut self, after_cut: bool) -> Tracked {
        self.cursor = Cursor::at(self.cursor.offset, after_cut);
        self
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Where it was last seen: where it is opened again, since its
    /// descriptor is closed whenever it is drained.
    pub fn seen_at(&self) -> &Path {
        self.aside().moved_to.as_deref().unwrap_or(&self.path)
    }

    /// Whether it was last seen under another name than `path`.
    pub fn moved(&self) -> bool {
        self.aside().moved_to.is_some()
    }

    fn set_seen_at(&mut self, at: &Path) {
        if at.as_os_str() == self.path.as_os_str() {
            if let Some(aside) = &mut self.aside {
                aside.moved_to = None;
            }
        } else if self
            .aside()
            .moved_to
            .as_deref()
            .is_none_or(|m| m.as_os_str() != at.as_os_str())
        {
            self.aside_mut().moved_to = Some(at.to_path_buf());
        }
    }

    /// Marks it found by look number `look` at `at`; false if it was already
    /// found in that look (a second PATH leading to the same file).
    pub fn seen(&mut self, look: u64, at: &Path) -> bool {
        if self.seen_in == look || self.seen_in == SETTLED {
            return false;
        }
        self.seen_in = look;
        self.set_seen_at(at);
        true
    }

    /// Marks it as part of look number `look` without a path (taken on now,
    /// or known under a new identity).
    pub fn seen_in(&mut self, look: u64) {
        self.seen_in = look;
    }

    pub fn was_seen_in(&self, look: u64) -> bool {
        self.seen_in == look || self.seen_in == SETTLED
    }

    /// Whether nothing is left to do for it until its stat changes: followed
    /// at its own path, closed, everything up to its size read, and neither
    /// unresolved nor waiting for a predecessor.
    pub fn can_settle(&self) -> bool {
        self.state == State::Following
            && self.file.is_none()
            && self.size == self.cursor.read_pos
            && self.aside().moved_to.is_none()
            && !self.unresolved
            && self.waits_for.is_none()
    }

    /// Whether a grown file can be told the same by the bytes before its
    /// offset, read again with the new ones, instead of by its head: they are
    /// known, and the fingerprint is whole (a shorter one grows with the
    /// file, so its head is read anyway).
    pub fn checks_behind(&self) -> bool {
        self.behind.0 == self.cursor.offset
            && self.cursor.offset >= BEHIND
            && self.fingerprint.len == crate::identity::FINGERPRINT_BYTES
    }

    /// Whether `bytes`, read from just before the offset, are those
    /// delivered; None when that is not known.
    pub fn behind_matches(&self, bytes: &[u8]) -> Option<bool> {
        (self.behind.0 == self.cursor.offset
            && bytes.len() as u64 == self.cursor.offset.min(BEHIND))
        .then(|| crate::identity::quick_hash(bytes) == self.behind.1)
    }

    /// Records the bytes just before the offset (all of them up to `BEHIND`).
    pub fn set_behind(&mut self, bytes: &[u8]) {
        debug_assert_eq!(bytes.len() as u64, self.cursor.offset.min(BEHIND));
        self.behind = (self.cursor.offset, crate::identity::quick_hash(bytes));
    }

    /// Settled (see collector/watch.rs): seen in every look until unsettled.
    pub fn settle(&mut self) {
        self.seen_in = SETTLED;
    }

    pub fn unsettle(&mut self) {
        if self.seen_in == SETTLED {
            self.seen_in = 0;
        }
    }

    pub fn is_settled(&self) -> bool {
        self.seen_in == SETTLED
    }

    /// The file looked shorter than what was read once, with its head
    /// unchanged: it is looked at again before it is read.
    pub fn shrink_seen(&self) -> bool {
        self.shrink_seen
    }

    /// True the first time a long line is found in it (warned once a file).
    pub fn first_long_line(&mut self) -> bool {
        !std::mem::replace(&mut self.long_line_warned, true)
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where a file seen for the first time begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At its first byte.
    Beginning,
    /// After its last complete line (`--from-end`).
    End,
}

/// Picks the start of a file taken on now (a file known from the checkpoint
/// resumes through `Transition::Resume` instead).
///
/// - `at_startup`: this is the first cycle after start-up;
/// - `path_has_history`: the checkpoint names some file under this path (so a
///   new file there was created by a rotation while we were stopped).
pub fn start(at_startup: bool, from_end: bool, path_has_history: bool) -> Start {
    match (at_startup, from_end, path_has_history) {
        (true, true, false) => Start::End,
        // Files that appear later, files without --from-end, and a new file at a
        // path whose earlier file was rotated away while we were stopped.
        (false, _, _) | (true, false, _) | (true, true, true) => Start::Beginning,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn start_cases() {
        let cases = [
            // (at_startup, from_end, history) -> start
            ((true, true, false), Start::End),
            ((true, true, true), Start::Beginning),
            ((true, false, false), Start::Beginning),
            ((false, true, false), Start::Beginning),
            ((false, false, true), Start::Beginning),
        ];
        for ((boot, end, hist), want) in cases {
            assert_eq!(start(boot, end, hist), want, "{boot} {end} {hist}");
        }
    }

    pub(crate) fn fp(len: u64, hash: u64) -> Fingerprint {
        Fingerprint { len, hash }
    }

    /// A file in `state`, born at 1, delivered up to `offset`, `size` long,
    /// read up to `read_pos`.
    pub(crate) fn file(state: State, offset: u64, read_pos: u64, size: u64) -> Tracked {
        let id = FileId { dev: 1, ino: 2 };
        let mut t = Tracked::new(id, "/a".into(), Format::Raw, fp(4, 9), offset);
        t.state = state;
        t.born = Some(1);
        t.cursor.read_pos = read_pos;
        t.size = size;
        t
    }

    /// (state, offset, read_pos, size, open, shrink seen, first cycle),
    /// observation, the transition it must give.
    pub(crate) type Case = (
        (State, u64, u64, u64, bool, bool, bool),
        Observation,
        Transition,
    );

    #[test]
    fn a_partial_line_keeps_the_descriptor() {
        let interval = Duration::from_millis(1);
        let mut t = file(State::Following, 2, 3, 3);
        t.file = Some(tempfile::tempfile().unwrap());
        assert!(!t.let_go(false, false, true, interval));
        assert!(t.is_open());
        // Past half the budget it goes, so other files still get their turn.
        assert!(t.let_go(false, false, false, interval));
        let mut t = file(State::Following, 3, 3, 3);
        t.file = Some(tempfile::tempfile().unwrap());
        assert!(t.let_go(false, false, false, interval));
    }
}
