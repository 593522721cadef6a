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

use crate::checkpoint::Entry;
use crate::encode::Encoder;
use crate::error::show;
use crate::identity::{FileId, Fingerprint};
use crate::settings::Format;

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

/// The read position of a file. The fields move together, only through
/// these methods, so that what was delivered, what was looked at and what a
/// checkpoint covers never disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Next byte to deliver; always at a line or piece boundary.
    offset: u64,
    /// Whether `offset` sits right after a cut piece of a long line.
    after_cut: bool,
    /// End of what has been looked at: `offset` plus the unfinished line.
    read_pos: u64,
    /// `offset` and `after_cut` as of the last saved checkpoint: where a
    /// failed cycle rolls back to.
    committed: (u64, bool),
}

impl Cursor {
    /// At `offset`, nothing looked at beyond it, and committed there.
    pub fn at(offset: u64, after_cut: bool) -> Cursor {
        Cursor {
            offset,
            after_cut,
            read_pos: offset,
            committed: (offset, after_cut),
        }
    }

    /// The checkpoint covering the position was saved.
    pub fn commit(&mut self) {
        self.committed = (self.offset, self.after_cut);
    }

    /// Back to the last commit, nothing looked at beyond it.
    pub fn roll_back(&mut self) {
        (self.offset, self.after_cut) = self.committed;
        self.read_pos = self.offset;
    }

    /// After a roll back: forward to `offset` (what a failed output took),
    /// to be committed next.
    pub fn forward_to(&mut self, offset: u64, after_cut: bool) {
        (self.offset, self.after_cut, self.read_pos) = (offset, after_cut, offset);
    }

    pub fn committed_offset(&self) -> u64 {
        self.committed.0
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn after_cut(&self) -> bool {
        self.after_cut
    }

    pub fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// `looked` bytes were read from `offset`; the first `consumed` of them
    /// were delivered, ending after a cut piece if `after_cut`. The rest is an
    /// unfinished line, looked at but not delivered.
    pub fn advance(&mut self, consumed: u64, looked: u64, after_cut: bool) {
        debug_assert!(consumed <= looked);
        self.offset += consumed;
        self.after_cut = after_cut;
        self.read_pos = self.offset + (looked - consumed);
    }

    /// `n` bytes of whole lines were delivered without a look past them.
    pub fn skip(&mut self, n: u64) {
        self.offset += n;
        self.after_cut = false;
        self.read_pos = self.read_pos.max(self.offset);
    }

    /// Back to the first byte (truncation, new content); the commit stays.
    pub fn restart(&mut self) {
        (self.offset, self.after_cut, self.read_pos) = (0, false, 0);
    }
}

/// What the search beside a path (`app.log.1`, `app.log-20261124`) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sibling {
    /// Beside its path (or where it was last seen), same identity and head;
    /// `after_cut`: the byte before its offset is not a newline.
    Found {
        path: PathBuf,
        size: u64,
        after_cut: bool,
    },
    /// Nowhere to be found.
    Absent,
    /// Could not be checked this time (an I/O error, out of descriptors):
    /// ask again later, never taken for absence.
    Unknown,
}

/// A re-check of a file's first bytes against its fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadCheck {
    /// The same head; the fingerprint of the head now (it may cover more).
    Same(Fingerprint),
    /// Other bytes at the start; the fingerprint of the head now.
    Other(Fingerprint),
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

/// What the I/O code saw of a tracked file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Found at a watched path, with this size and birth time.
    Seen { size: u64, born: Option<u64> },
    /// A missing or retired file seen again (after `CheckHead`), through a
    /// descriptor opened just now (on NFS the open revalidates the size):
    /// its size, what its head says, the byte before its offset (when
    /// 0 < offset <= size), and its change time in ns.
    Reappeared {
        size: u64,
        born: Option<u64>,
        head: HeadCheck,
        byte_before: Option<u8>,
        changed: Option<u64>,
    },
    /// Not found at any watched path this cycle.
    NotSeen,
    /// Not found at any watched path, and its directory or path could not
    /// be read: nothing is known.
    Unknown,
    /// What the search beside its path found (after `LookBeside`).
    Beside(Sibling),
    /// The size the open descriptor of a gone file reports.
    Fstat { size: u64 },
    /// Before a read: how the size compares with what was read, (when it
    /// changed) what a re-check of the head found, and (when that may mean
    /// a truncation) the file's change time in ns.
    Recheck {
        change: Change,
        head: HeadCheck,
        changed: Option<u64>,
    },
    /// A read at the offset found no bytes though the size said there were.
    ShortRead,
    /// While the output blocks: the size its descriptor reports now, and
    /// whether it has been quiet for two intervals.
    Waiting { size_now: Option<u64>, quiet: bool },
    /// A checkpoint was saved at this Unix time.
    Saved { at: u64 },
}

/// What an observation means for a file: decided by `decide`, carried out
/// by `Tracked::apply`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changes.
    Unchanged,
    /// Seen at its path again with this size (the read re-checks a change).
    Resized { size: u64 },
    /// Not seen and not open: the collector looks beside its path and
    /// observes `Beside`.
    LookBeside,
    /// Known from the checkpoint or retired and seen again: the collector
    /// re-checks its head and observes `Reappeared`.
    CheckHead,
    /// The same file again: resumed at its offset.
    Resume {
        size: u64,
        born: Option<u64>,
        fingerprint: Fingerprint,
        after_cut: bool,
    },
    /// The same head, but shorter than its offset: truncated while not
    /// looked at; read again from the start.
    ResumeTruncated {
        size: u64,
        born: Option<u64>,
        fingerprint: Fingerprint,
        changed: Option<u64>,
    },
    /// A gone file seen at a watched path again.
    CameBack { size: u64 },
    /// Open and no longer at its path: read to its end through the descriptor.
    RotatedAway,
    /// Found beside its path: read to its end from there.
    FoundBeside {
        path: PathBuf,
        size: u64,
        after_cut: bool,
    },
    /// Not found anywhere with bytes undelivered: kept (it may come back).
    Vanished,
    /// Not found anywhere, fully delivered: let go.
    Retire,
    /// Another file on the same inode (other birth time or head): the file
    /// known is gone for good, the new one is taken on from its start.
    Recycled,
    /// Grew, same head: the fingerprint may now cover more.
    Grew { fingerprint: Fingerprint },
    /// Shorter than what was read with the same head: once may be a stale
    /// size from an NFS attribute cache; looked at again next cycle.
    ShrunkOnce,
    /// Shorter than what was read (twice, or with another head): read again
    /// from the start. `changed`: the file's change time then.
    Truncated {
        fingerprint: Fingerprint,
        changed: Option<u64>,
    },
    /// Not shorter, but other bytes at the start (truncated and rewritten
    /// past the offset between two looks): read again from the start.
    NewContent {
        fingerprint: Fingerprint,
        changed: Option<u64>,
    },
    /// The size is what was read: nothing new.
    Steady,
    /// A gone file grew: not quiet yet.
    GrewWhileGone { size: u64 },
    /// The size said more than a read found (shrunk since, or a file whose
    /// size is not its content): nothing is due.
    SizeOverstated,
    /// Could not be told this time: looked at again next cycle.
    LookAgain,
    /// A gone file fully delivered, committed and quiet while the output
    /// blocks: let go, so its disk space is freed whatever the output does.
    Drained,
    /// The checkpoint covering a finished file's last line was saved: let go.
    LetGo { at: u64 },
}

impl Transition {
    /// Whether it comes of a re-check of a file whose size changed.
    fn after_recheck(&self) -> bool {
        matches!(
            self,
            Transition::Grew { .. }
                | Transition::ShrunkOnce
                | Transition::Truncated { .. }
                | Transition::NewContent { .. }
        )
    }

    /// Whether it changes something the checkpoint records (`Grew` does
    /// when the fingerprint covers more; `apply` says so itself).
    fn records_change(&self) -> bool {
        matches!(
            self,
            Transition::Resume { .. }
                | Transition::ResumeTruncated { .. }
                | Transition::CameBack { .. }
                | Transition::RotatedAway
                | Transition::FoundBeside { .. }
                | Transition::Vanished
                | Transition::Retire
                | Transition::Truncated { .. }
                | Transition::NewContent { .. }
                | Transition::Drained
                | Transition::LetGo { .. }
        )
    }
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

/// What `observation` means for `t`; `first_cycle`: the first look since
/// start-up. Pure: it reads `t` and nothing else.
#[inline(always)]
pub fn decide(t: &Tracked, observation: &Observation, first_cycle: bool) -> Transition {
    let open = t.file.is_some();
    match (t.state, observation) {
        // Another file on the inode, whatever the new one's first bytes say.
        (
            _,
            Observation::Seen {
                born: Some(now), ..
            },
        ) if t.born.is_some_and(|then| then != *now) => Transition::Recycled,
        (State::Following, &Observation::Seen { size, .. }) => Transition::Resized { size },
        (State::Gone { .. }, &Observation::Seen { size, .. }) => Transition::CameBack { size },
        (State::Retired { .. } | State::Missing, Observation::Seen { .. }) => Transition::CheckHead,
        (
            _,
            &Observation::Reappeared {
                size,
                born,
                head,
                byte_before,
                changed,
            },
        ) => match head {
            // Born with the file known: the same file, truncated and
            // rewritten while not looked at.
            HeadCheck::Other(fingerprint) if t.born.is_some() && born == t.born => {
                Transition::ResumeTruncated {
                    size,
                    born,
                    fingerprint,
                    changed,
                }
            }
            HeadCheck::Other(_) => Transition::Recycled,
            HeadCheck::Same(fingerprint) if t.cursor.offset > size => Transition::ResumeTruncated {
                size,
                born,
                fingerprint,
                changed,
            },
            HeadCheck::Same(fingerprint) => Transition::Resume {
                size,
                born,
                fingerprint,
                after_cut: t.cursor.offset > 0 && byte_before.is_some_and(|b| b != b'\n'),
            },
        },
        (State::Following, Observation::NotSeen) if open => Transition::RotatedAway,
        (State::Following, Observation::NotSeen) => Transition::LookBeside,
        (State::Missing, Observation::NotSeen) if first_cycle || t.unresolved => {
            Transition::LookBeside
        }
        (_, Observation::NotSeen | Observation::Unknown) => Transition::Unchanged,
        (
            _,
            Observation::Beside(Sibling::Found {
                path,
                size,
                after_cut,
            }),
        ) => Transition::FoundBeside {
            path: path.clone(),
            size: *size,
            after_cut: *after_cut,
        },
        (_, Observation::Beside(Sibling::Unknown)) => Transition::LookAgain,
        (_, Observation::Beside(Sibling::Absent)) if t.size > t.cursor.offset => {
            Transition::Vanished
        }
        (_, Observation::Beside(Sibling::Absent)) => Transition::Retire,
        (State::Gone { .. }, &Observation::Fstat { size }) if size != t.size => {
            Transition::GrewWhileGone { size }
        }
        (_, Observation::Fstat { .. }) => Transition::Unchanged,
        (
            _,
            &Observation::Recheck {
                change,
                head,
                changed,
            },
        ) => match (change, head) {
            (Change::Unchanged, _) => Transition::Steady,
            (Change::Grew, HeadCheck::Same(fingerprint)) => Transition::Grew { fingerprint },
            (Change::Grew, HeadCheck::Other(fingerprint)) => Transition::NewContent {
                fingerprint,
                changed,
            },
            (Change::Truncated, HeadCheck::Same(_)) if !t.shrink_seen => Transition::ShrunkOnce,
            (Change::Truncated, HeadCheck::Same(fingerprint) | HeadCheck::Other(fingerprint)) => {
                Transition::Truncated {
                    fingerprint,
                    changed,
                }
            }
        },
        (_, Observation::ShortRead) => Transition::SizeOverstated,
        (State::Gone { .. }, &Observation::Waiting { size_now, quiet })
            if quiet
                && !t.finished
                && size_now.is_none_or(|now| now == t.size)
                && t.cursor.committed_offset() == t.size
                && t.cursor.offset == t.size =>
        {
            Transition::Drained
        }
        (_, Observation::Waiting { .. }) => Transition::Unchanged,
        (_, &Observation::Saved { at }) if t.finished => Transition::LetGo { at },
        (_, Observation::Saved { .. }) => Transition::Unchanged,
    }
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

    /// A file known from the checkpoint, not yet seen.
    pub fn from_entry(e: &Entry, format: Format) -> Tracked {
        let mut t = Tracked::new(e.id, e.path.to_path_buf(), format, e.fingerprint, e.offset);
        t.born = e.born;
        t.size = e.size;
        if e.prior.is_some() || e.copies_until.is_some() {
            let aside = t.aside_mut();
            aside.before_truncation = e.prior;
            aside.copies_until = e.copies_until;
        }
        t.state = match e.retired {
            Some(at) => State::Retired { at },
            None => State::Missing,
        };
        t.unresolved = t.state == State::Missing;
        t
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

    /// The checkpoint line for this file; `now` stamps a file whose final
    /// line went out this cycle as retired.
    pub fn entry(&self, now: u64) -> Entry {
        Entry {
            id: self.id,
            born: self.born,
            offset: self.cursor.offset,
            size: self.size,
            fingerprint: self.fingerprint,
            prior: self.aside().before_truncation,
            copies_until: self.aside().copies_until,
            retired: match self.state {
                State::Retired { at } => Some(at),
                _ if self.finished => Some(now),
                _ => None,
            },
            path: self.shared_path(),
        }
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

    /// Whether this file is read in the current cycle.
    pub fn is_active(&self) -> bool {
        matches!(self.state, State::Following | State::Gone { .. })
    }

    pub fn waits_for(&self) -> Option<(u64, u64)> {
        self.waits_for
    }

    /// Waits for file `seq` to be read up to `mark` first (see `waits_for`).
    pub fn wait_for(&mut self, predecessor: (u64, u64)) {
        self.waits_for = Some(predecessor);
    }

    /// Taken up at its offset right after a cut piece of a long line.
    pub fn resumed_after_cut(mut self, after_cut: bool) -> Tracked {
        self.cursor = Cursor::at(self.cursor.offset, after_cut);
        self
    }

    pub fn stop_waiting(&mut self) {
        self.waits_for = None;
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

    /// Known under another identity from now on (a device renumbered).
    pub fn renumber(&mut self, id: FileId) {
        self.id = id;
    }

    /// True the first time a long line is found in it (warned once a file).
    pub fn first_long_line(&mut self) -> bool {
        !std::mem::replace(&mut self.long_line_warned, true)
    }

    /// Carries out `transition` (from `decide` on this file); returns what
    /// the collector must log and count.
    #[inline(always)]
    #[must_use = "the events say what to log and count"]
    pub fn apply(&mut self, transition: Transition) -> Vec<Event> {
        // What an idle cycle applies to every file: nothing to say, no time
        // to take.
        if let Transition::Resized { size } = transition {
            self.size = size;
            return Vec::new();
        }
        let mut events = Vec::new();
        if let Some((level, message)) = self.message(&transition) {
            events.push(Event::Log(level, message));
        }
        let now = Instant::now();
        let was_following = self.state == State::Following;
        let (rechecked, recorded) = (transition.after_recheck(), transition.records_change());
        let steady = matches!(transition, Transition::Steady);
        let shrunk = matches!(transition, Transition::ShrunkOnce);
        // Any answer but "could not be told" resolves a file from the checkpoint.
        if !matches!(
            transition,
            Transition::LookAgain | Transition::LookBeside | Transition::Unchanged
        ) {
            self.unresolved = false;
        }
        match transition {
            Transition::Unchanged
            | Transition::LookBeside
            | Transition::CheckHead
            | Transition::Recycled
            | Transition::LookAgain
            | Transition::Steady
            | Transition::ShrunkOnce => {}
            Transition::Resized { size } => self.size = size,
            Transition::Resume {
                size,
                born,
                fingerprint,
                after_cut,
            } => {
                (self.fingerprint, self.born, self.size) = (fingerprint, born, size);
                self.state = State::Following;
                self.cursor = Cursor::at(self.cursor.offset, after_cut);
                self.committed_fingerprint = self.fingerprint;
            }
            Transition::ResumeTruncated {
                size,
                born,
                fingerprint,
                changed,
            } => {
                (self.born, self.size) = (born, size);
                self.state = State::Following;
                let before = self.fingerprint;
                let aside = self.aside_mut();
                aside.before_truncation = Some(before);
                aside.copies_until = changed.or(aside.copies_until);
                self.restart(fingerprint);
                self.cursor.commit();
                self.committed_fingerprint = self.fingerprint;
                events.push(Event::Truncation);
            }
            Transition::CameBack { size } => {
                self.state = State::Following;
                self.size = size;
            }
            Transition::RotatedAway => {
                self.state = State::Gone { since: now };
                events.push(Event::Rotation);
            }
            Transition::FoundBeside {
                path,
                size,
                after_cut,
            } => {
                if self.state == State::Missing {
                    // Taken up from the checkpoint: its offset is committed.
                    self.cursor = Cursor::at(self.cursor.offset, after_cut);
                    self.committed_fingerprint = self.fingerprint;
                }
                self.set_seen_at(&path);
                self.size = size;
                self.state = State::Gone { since: now };
                events.push(Event::Rotation);
            }
            Transition::Vanished => {
                self.state = State::Missing;
                if was_following {
                    events.push(Event::Rotation);
                }
            }
            Transition::Retire => {
                self.file = None;
                self.state = State::Retired { at: unix_now() };
                if was_following {
                    events.push(Event::Rotation);
                }
            }
            Transition::Grew { fingerprint } => {
                if fingerprint != self.fingerprint {
                    events.push(Event::Dirty);
                }
                self.fingerprint = fingerprint;
            }
            Transition::Truncated {
                fingerprint,
                changed,
            }
            | Transition::NewContent {
                fingerprint,
                changed,
            } => {
                let before = self.fingerprint;
                let aside = self.aside_mut();
                aside.before_truncation = Some(before);
                aside.copies_until = changed.or(aside.copies_until);
                self.restart(fingerprint);
                events.push(Event::Truncation);
            }
            Transition::GrewWhileGone { size } => {
                self.size = size;
                self.state = State::Gone { since: now };
            }
            Transition::SizeOverstated => self.size = self.cursor.read_pos,
            Transition::Drained => {
                self.file = None;
                self.state = State::Retired { at: unix_now() };
            }
            Transition::LetGo { at } => {
                self.finished = false;
                self.file = None;
                self.state = State::Retired { at };
            }
        }
        // A size change was looked at: the file changed lately, and a shrink
        // seen once is remembered until the next look.
        if rechecked {
            self.changed_at = Some(now);
        }
        self.shrink_seen = shrunk || self.shrink_seen && !rechecked && !steady;
        if recorded {
            events.push(Event::Dirty);
        }
        events
    }

    /// What is logged about `transition`, said of the file as it is before it.
    fn message(&self, transition: &Transition) -> Option<(log::Level, String)> {
        use log::Level::{Debug, Info, Warn};
        // Most transitions say nothing: the name is formatted only for those
        // that do (an idle cycle applies one to every file).
        match transition {
            Transition::Unchanged
            | Transition::Resized { .. }
            | Transition::Steady
            | Transition::LookBeside
            | Transition::CheckHead
            | Transition::LookAgain
            | Transition::Recycled
            | Transition::Grew { .. }
            | Transition::GrewWhileGone { .. }
            | Transition::SizeOverstated => return None,
            Transition::Drained => {
                return Some((
                    Debug,
                    format!(
                        "{} fully delivered; closed while the output waits",
                        show(&self.path)
                    ),
                ))
            }
            Transition::LetGo { .. } => {
                return Some((
                    Debug,
                    format!("{} fully delivered; closed", show(&self.path)),
                ))
            }
            Transition::Retire if self.state != State::Following => return None,
            _ => {}
        }
        let path = show(&self.path);
        let offset = self.cursor.offset;
        Some(match transition {
            Transition::Resume { .. } => (Debug, format!("resuming {path} at offset {offset}")),
            Transition::ResumeTruncated { size, .. } if *size < offset => (
                Warn,
                format!(
                    "{path} was truncated (size {size} < checkpointed offset {offset}); \
                     reading it again from the start"
                ),
            ),
            Transition::ResumeTruncated { .. } => (
                Warn,
                format!(
                    "{path} has new content at its start (truncated and rewritten while \
                     not looked at); reading it again from the start"
                ),
            ),
            Transition::CameBack { .. } => (
                Debug,
                format!("{path} is back in view at {}", show(self.seen_at())),
            ),
            Transition::RotatedAway => (
                Info,
                format!("{path} was renamed away or deleted; reading the rest of it"),
            ),
            Transition::FoundBeside { path: at, .. } => (
                Info,
                format!(
                    "{path} was renamed away (to {}); reading the rest of it",
                    show(at)
                ),
            ),
            Transition::Vanished => (
                Warn,
                format!(
                    "{path} (inode {}) was renamed away or deleted and is not found \
                     beside it; what it held after offset {offset} is not delivered",
                    self.id.ino
                ),
            ),
            Transition::Retire if self.state == State::Following => {
                (Info, format!("{path} was renamed away or deleted"))
            }
            Transition::ShrunkOnce => (
                Debug,
                format!("{path} looks shorter than what was read; looking again"),
            ),
            Transition::Truncated { .. } => (
                Warn,
                format!(
                    "{path} was truncated (size {} < offset {}); reading it again from the start",
                    self.size, self.cursor.read_pos
                ),
            ),
            Transition::NewContent { .. } => (
                Warn,
                format!(
                    "{path} has new content at its start (truncated and rewritten); \
                     reading it again from the start"
                ),
            ),
            _ => return None,
        })
    }

    /// Starts over from the beginning with the head `fingerprint`.
    fn restart(&mut self, fingerprint: Fingerprint) {
        self.cursor.restart();
        self.fingerprint = fingerprint;
        self.shrink_seen = false;
    }

    /// `looked` bytes were read at the offset and split; the first `consumed`
    /// went into the batch (see `Cursor::advance`).
    #[must_use = "the events say what to log and count"]
    pub fn advance(&mut self, consumed: u64, looked: u64, after_cut: bool) -> Vec<Event> {
        self.cursor.advance(consumed, looked, after_cut);
        if consumed > 0 {
            vec![Event::Dirty]
        } else {
            Vec::new()
        }
    }

    /// `n` bytes of whole lines were copied to the output in the kernel.
    #[must_use = "the events say what to log and count"]
    pub fn copied(&mut self, n: u64) -> Vec<Event> {
        self.cursor.skip(n);
        self.changed_at = Some(Instant::now());
        vec![Event::Dirty]
    }

    /// The rest of a gone file went out, a newline added to its final
    /// partial line (or could not be read: `delivered` is 0 then); it is let
    /// go once the checkpoint covering that is saved.
    #[must_use = "the events say what to log and count"]
    pub fn finish(&mut self, delivered: u64) -> Vec<Event> {
        if delivered > 0 {
            self.cursor.skip(delivered);
        }
        self.finished = true;
        vec![Event::Dirty]
    }

    /// Whether its end is due now: a gone file (or one renamed but still
    /// matched, `app.log*`, with a partial line) quiet for two intervals and
    /// read up to its size, whose writer has moved on.
    pub fn due_to_finish(&self, interval: Duration, once: bool) -> bool {
        let done = match self.state {
            State::Gone { since } => quiet(Some(since), interval, once),
            State::Following => self.renamed_partial(interval, once),
            _ => false,
        };
        done && self.cursor.read_pos == self.size && !self.finished
    }

    /// A file renamed but still matched, quiet, with a partial line to finish.
    fn renamed_partial(&self, interval: Duration, once: bool) -> bool {
        self.moved() && self.cursor.offset < self.size && quiet(self.changed_at, interval, once)
    }

    /// Whether a closed file is worth opening for its turn this cycle.
    pub fn wants_open(&self, interval: Duration, once: bool) -> bool {
        match self.state {
            State::Gone { .. } => true,
            State::Following => {
                classify(self.cursor.read_pos, self.size) != Change::Unchanged
                    || self.renamed_partial(interval, once)
            }
            _ => false,
        }
    }

    /// Whether it has anything to do this cycle. A followed file that is
    /// closed, unchanged and at its own path has not: most files of an idle
    /// host are skipped on that.
    pub fn has_work(&self) -> bool {
        self.is_active()
            && (self.file.is_some()
                || self.state != State::Following
                || self.size != self.cursor.read_pos
                || self.moved())
    }

    pub fn attach(&mut self, file: File) {
        self.file = Some(file);
    }

    /// Closes a followed file's descriptor after its turn, unless it is
    /// needed: bytes still to read, or (while `lately_allowed`: half the
    /// budget is free) a partial line not delivered yet (its file may be
    /// deleted next, and the descriptor is then the only way to those
    /// bytes) or a change within the last two intervals. Over the budget it
    /// is closed anyway. A gone file keeps its descriptor
    /// until it is let go: its path no longer leads to it. Returns whether
    /// it was closed.
    pub fn let_go(
        &mut self,
        more: bool,
        over_budget: bool,
        lately_allowed: bool,
        interval: Duration,
    ) -> bool {
        let lately = !quiet(self.changed_at, interval, false);
        let partial = self.cursor.offset < self.size;
        let needed = more || lately_allowed && (lately || partial);
        if self.state == State::Following && self.file.is_some() && (over_budget || !needed) {
            self.file = None;
            return true;
        }
        false
    }

    /// A read failed: a followed file's descriptor is dropped, so the next
    /// cycle opens the path again (ESTALE on NFS, a file replaced under us);
    /// a gone file keeps its descriptor and is retried. Returns whether it
    /// was closed.
    pub fn read_failed(&mut self) -> bool {
        self.state == State::Following && self.file.take().is_some()
    }

    /// Whether it is gone and has been quiet for two intervals.
    pub fn gone_quiet(&self, interval: Duration) -> bool {
        matches!(self.state, State::Gone { since } if quiet(Some(since), interval, false))
    }

    /// The checkpoint was saved at Unix time `now`: the cursor and
    /// fingerprint are committed, and a finished file is let go.
    #[must_use = "the events say what to log and count"]
    pub fn committed(&mut self, now: u64) -> Vec<Event> {
        self.cursor.commit();
        self.committed_fingerprint = self.fingerprint;
        let transition = decide(self, &Observation::Saved { at: now }, false);
        self.apply(transition)
    }

    /// After `roll_back`: forward again to `cursor`, what a failed output
    /// took before it failed (with the fingerprint and `finished` as they
    /// were then); a checkpoint covering it is saved next.
    pub fn keep_delivered(
        &mut self,
        offset: u64,
        after_cut: bool,
        fingerprint: Fingerprint,
        finished: bool,
    ) {
        self.cursor.forward_to(offset, after_cut);
        self.fingerprint = fingerprint;
        self.finished = finished;
    }

    /// Forgets everything since the last saved checkpoint.
    pub fn roll_back(&mut self) {
        self.cursor.roll_back();
        self.fingerprint = self.committed_fingerprint;
        self.finished = false;
    }

    /// Retired longer ago than `retention` seconds (at Unix time `now`).
    pub fn expired(&self, now: u64, retention: u64) -> bool {
        matches!(self.state, State::Retired { at } if now.saturating_sub(at) > retention)
    }

    /// What is lost with it when another file takes its inode.
    pub fn forget(&self) -> Vec<Event> {
        if !matches!(self.state, State::Retired { .. }) && self.size > self.cursor.offset {
            vec![Event::Log(
                log::Level::Warn,
                format!(
                    "{} (inode {}) is gone; what it held after offset {} is not delivered",
                    show(&self.path),
                    self.id.ino,
                    self.cursor.offset
                ),
            )]
        } else {
            Vec::new()
        }
    }

    /// A new file on its inode that was born with it: the same file,
    /// truncated and rewritten (copytruncate), not a recycled inode. A copy
    /// of what `old` held must not pass for a generation of its own later:
    /// neither one starting like it, nor one born before `changed` (the
    /// file's change time now).
    pub fn succeeds(&mut self, old: &Tracked, changed: Option<u64>) {
        let same_file = !matches!((old.born, self.born), (Some(a), Some(b)) if a != b);
        if same_file {
            let aside = self.aside_mut();
            aside.before_truncation = Some(old.fingerprint);
            aside.copies_until = changed.or(old.aside().copies_until);
        }
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

    #[test]
    fn cursor_moves_its_positions_together() {
        let mut c = Cursor::at(5, false);
        c.advance(10, 14, true);
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (15, 19, true));
        c.skip(100);
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (115, 115, false));
        c.advance(0, 3, false);
        assert_eq!((c.offset(), c.read_pos()), (115, 118));
        c.restart();
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (0, 0, false));
        c.roll_back();
        assert_eq!((c.offset(), c.read_pos()), (5, 5));
        c.advance(7, 7, false);
        c.commit();
        c.advance(3, 9, true);
        c.roll_back();
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (12, 12, false));
        assert_eq!(c.committed_offset(), 12);
    }

    fn fp(len: u64, hash: u64) -> Fingerprint {
        Fingerprint { len, hash }
    }

    /// A file in `state`, born at 1, delivered up to `offset`, `size` long,
    /// read up to `read_pos`.
    fn file(state: State, offset: u64, read_pos: u64, size: u64) -> Tracked {
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
    type Case = (
        (State, u64, u64, u64, bool, bool, bool),
        Observation,
        Transition,
    );

    #[test]
    fn decide_covers_every_transition() {
        let gone = State::Gone {
            since: Instant::now(),
        };
        let retired = State::Retired { at: 1 };
        let following = State::Following;
        let missing = State::Missing;
        let seen = |size| Observation::Seen {
            size,
            born: Some(1),
        };
        let reappeared = |size, head, byte_before| Observation::Reappeared {
            size,
            born: Some(1),
            head,
            byte_before,
            changed: Some(6),
        };
        let found = Sibling::Found {
            path: "/a.1".into(),
            size: 20,
            after_cut: true,
        };
        let recheck = |change, head| Observation::Recheck {
            change,
            head,
            changed: Some(5),
        };
        let same = HeadCheck::Same(fp(8, 7));
        let other = HeadCheck::Other(fp(8, 3));
        // (state, offset, read_pos, size, open, shrink seen, first cycle, observation) -> transition
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ((following, 5, 5, 5, false, false, false), seen(9), Transition::Resized { size: 9 }),
            ((following, 5, 5, 5, true, false, false), Observation::Seen { size: 9, born: Some(2) }, Transition::Recycled),
            ((missing, 5, 5, 5, false, false, true), Observation::Seen { size: 9, born: Some(2) }, Transition::Recycled),
            ((following, 5, 5, 5, false, false, false), Observation::Seen { size: 9, born: None }, Transition::Resized { size: 9 }),
            ((gone, 5, 5, 5, true, false, false), seen(7), Transition::CameBack { size: 7 }),
            ((retired, 5, 5, 5, false, false, false), seen(7), Transition::CheckHead),
            ((missing, 5, 5, 5, false, false, true), seen(7), Transition::CheckHead),
            ((missing, 5, 5, 5, false, false, true), reappeared(7, same, Some(b'x')),
                Transition::Resume { size: 7, born: Some(1), fingerprint: fp(8, 7), after_cut: true }),
            ((missing, 5, 5, 5, false, false, true), reappeared(7, same, Some(b'\n')),
                Transition::Resume { size: 7, born: Some(1), fingerprint: fp(8, 7), after_cut: false }),
            ((missing, 0, 0, 0, false, false, true), reappeared(7, same, None),
                Transition::Resume { size: 7, born: Some(1), fingerprint: fp(8, 7), after_cut: false }),
            ((missing, 50, 50, 50, false, false, true), reappeared(30, same, None),
                Transition::ResumeTruncated { size: 30, born: Some(1), fingerprint: fp(8, 7), changed: Some(6) }),
            ((missing, 30, 30, 30, false, false, true), reappeared(30, same, Some(b'\n')),
                Transition::Resume { size: 30, born: Some(1), fingerprint: fp(8, 7), after_cut: false }),
            ((retired, 5, 5, 5, false, false, false), reappeared(7, same, Some(b'\n')),
                Transition::Resume { size: 7, born: Some(1), fingerprint: fp(8, 7), after_cut: false }),
            ((retired, 5, 5, 5, false, false, false), reappeared(7, other, None),
                Transition::ResumeTruncated { size: 7, born: Some(1), fingerprint: fp(8, 3), changed: Some(6) }),
            ((retired, 5, 5, 5, false, false, false),
                Observation::Reappeared { size: 7, born: Some(2), head: other, byte_before: None, changed: None },
                Transition::Recycled),
            ((following, 5, 5, 5, true, false, false), Observation::NotSeen, Transition::RotatedAway),
            ((following, 5, 5, 5, false, false, false), Observation::NotSeen, Transition::LookBeside),
            ((missing, 5, 5, 5, false, false, true), Observation::NotSeen, Transition::LookBeside),
            ((missing, 5, 5, 5, false, false, false), Observation::NotSeen, Transition::Unchanged),
            ((gone, 5, 5, 5, true, false, false), Observation::NotSeen, Transition::Unchanged),
            ((retired, 5, 5, 5, false, false, true), Observation::NotSeen, Transition::Unchanged),
            ((following, 5, 5, 5, true, false, false), Observation::Unknown, Transition::Unchanged),
            ((gone, 5, 5, 5, true, false, false), Observation::Unknown, Transition::Unchanged),
            ((following, 5, 5, 5, false, false, false), Observation::Beside(found.clone()),
                Transition::FoundBeside { path: "/a.1".into(), size: 20, after_cut: true }),
            ((following, 5, 5, 5, false, false, false), Observation::Beside(Sibling::Unknown), Transition::LookAgain),
            ((following, 5, 5, 9, false, false, false), Observation::Beside(Sibling::Absent), Transition::Vanished),
            ((following, 9, 9, 9, false, false, false), Observation::Beside(Sibling::Absent), Transition::Retire),
            ((gone, 5, 5, 9, true, false, false), Observation::Fstat { size: 12 }, Transition::GrewWhileGone { size: 12 }),
            ((gone, 5, 5, 9, true, false, false), Observation::Fstat { size: 9 }, Transition::Unchanged),
            ((following, 5, 9, 9, true, false, false), recheck(Change::Unchanged, same), Transition::Steady),
            ((following, 5, 9, 12, true, false, false), recheck(Change::Grew, same), Transition::Grew { fingerprint: fp(8, 7) }),
            ((following, 5, 9, 12, true, false, false), recheck(Change::Grew, other), Transition::NewContent { fingerprint: fp(8, 3), changed: Some(5) }),
            ((following, 5, 9, 3, true, false, false), recheck(Change::Truncated, same), Transition::ShrunkOnce),
            ((following, 5, 9, 3, true, true, false), recheck(Change::Truncated, same), Transition::Truncated { fingerprint: fp(8, 7), changed: Some(5) }),
            ((following, 5, 9, 3, true, false, false), recheck(Change::Truncated, other), Transition::Truncated { fingerprint: fp(8, 3), changed: Some(5) }),
            ((following, 5, 9, 12, true, false, false), Observation::ShortRead, Transition::SizeOverstated),
            ((gone, 9, 9, 9, true, false, false), Observation::Waiting { size_now: Some(9), quiet: true }, Transition::Drained),
            ((gone, 9, 9, 9, true, false, false), Observation::Waiting { size_now: Some(12), quiet: true }, Transition::Unchanged),
            ((gone, 9, 9, 9, true, false, false), Observation::Waiting { size_now: Some(9), quiet: false }, Transition::Unchanged),
            ((gone, 5, 9, 9, true, false, false), Observation::Waiting { size_now: None, quiet: true }, Transition::Unchanged),
            ((following, 9, 9, 9, true, false, false), Observation::Waiting { size_now: None, quiet: true }, Transition::Unchanged),
            ((gone, 9, 9, 9, true, false, false), Observation::Saved { at: 3 }, Transition::Unchanged),
        ];
        let mut seen = std::collections::BTreeSet::new();
        let mut check = |t: &Tracked, obs: &Observation, first: bool, want: Transition| {
            let got = decide(t, obs, first);
            assert_eq!(got, want, "{:?} {obs:?}", t.state);
            seen.insert(variant(&got));
        };
        for ((state, offset, read_pos, size, open, shrink, first), obs, want) in cases {
            let mut t = file(state, offset, read_pos, size);
            t.shrink_seen = shrink;
            if open {
                t.file = Some(tempfile::tempfile().unwrap());
            }
            check(&t, &obs, first, want);
        }
        // A finished file is let go once the checkpoint is saved.
        let mut t = file(gone, 9, 9, 9);
        t.finished = true;
        check(
            &t,
            &Observation::Saved { at: 3 },
            false,
            Transition::LetGo { at: 3 },
        );
        check(
            &t,
            &Observation::Waiting {
                size_now: Some(9),
                quiet: true,
            },
            false,
            Transition::Unchanged,
        );
        // A file from the checkpoint whose first search could not be made is
        // looked for again later.
        let mut t = file(missing, 5, 5, 5);
        t.unresolved = true;
        check(&t, &Observation::NotSeen, false, Transition::LookBeside);
        t.apply(Transition::LookAgain).clear();
        check(&t, &Observation::NotSeen, false, Transition::LookBeside);
        t.apply(Transition::Vanished).clear();
        check(&t, &Observation::NotSeen, false, Transition::Unchanged);
        assert_eq!(
            seen.len(),
            VARIANTS,
            "transitions no case gives: see `variant`"
        );
    }

    const VARIANTS: usize = 22;

    /// A number for each transition; the match has no catch-all, so a new
    /// variant does not compile until it is numbered and given a case above.
    fn variant(t: &Transition) -> usize {
        match t {
            Transition::Unchanged => 0,
            Transition::Resized { .. } => 1,
            Transition::LookBeside => 2,
            Transition::CheckHead => 3,
            Transition::Resume { .. } => 4,
            Transition::ResumeTruncated { .. } => 5,
            Transition::CameBack { .. } => 6,
            Transition::RotatedAway => 7,
            Transition::FoundBeside { .. } => 8,
            Transition::Vanished => 9,
            Transition::Retire => 10,
            Transition::Recycled => 11,
            Transition::Grew { .. } => 12,
            Transition::ShrunkOnce => 13,
            Transition::Truncated { .. } => 14,
            Transition::NewContent { .. } => 15,
            Transition::Steady => 16,
            Transition::GrewWhileGone { .. } => 17,
            Transition::SizeOverstated => 18,
            Transition::LookAgain => 19,
            Transition::Drained => 20,
            Transition::LetGo { .. } => 21,
        }
    }

    #[test]
    fn applying_moves_state_and_cursor() {
        let mut t = file(State::Missing, 50, 50, 50);
        let events = t.apply(Transition::ResumeTruncated {
            size: 30,
            born: Some(1),
            fingerprint: fp(8, 7),
            changed: Some(6),
        });
        assert_eq!((t.state, t.offset(), t.size), (State::Following, 0, 30));
        assert_eq!(t.before_truncation(), Some(fp(4, 9)));
        assert!(events.contains(&Event::Truncation));

        let mut t = file(State::Following, 5, 9, 9);
        t.file = Some(tempfile::tempfile().unwrap());
        t.apply(Transition::RotatedAway).clear();
        assert!(matches!(t.state, State::Gone { .. }));
        // Quiet at once with --once: the end is due, read up to the size.
        assert!(t.due_to_finish(Duration::from_secs(1), true));
        t.finish(4).clear();
        assert_eq!(t.offset(), 9);
        assert_eq!(t.entry(77).retired, Some(77));
        assert!(t.committed(78).contains(&Event::Dirty));
        assert_eq!(t.state, State::Retired { at: 78 });
        assert!(!t.is_open());
    }

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

    #[test]
    fn roll_back_returns_to_the_commit() {
        let mut t = file(State::Following, 5, 5, 100);
        t.advance(45, 55, true).clear();
        t.finish(0).clear();
        t.roll_back();
        assert_eq!(
            (
                t.offset(),
                t.cursor.read_pos(),
                t.cursor.after_cut(),
                t.finished
            ),
            (5, 5, false, false)
        );
        let e = t.entry(1);
        assert_eq!((e.offset, e.retired), (5, None));
    }
}
