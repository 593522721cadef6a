//! What an observation means for a file in its state: the pure `decide`,
//! one `Transition` for each (state, observation) that matters.

use std::path::PathBuf;

use super::{State, Tracked};
use crate::identity::{FileId, Fingerprint};

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
    /// Not found at any watched path, but still at its own path: no PATH
    /// names it any more, or an exclude takes it out (a reload).
    Unwatched,
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
    /// The rest of a gone file went out, `delivered` bytes with a newline
    /// added to its final partial line (0: it could not be read).
    Finished { delivered: u64 },
    /// The output failed: what was delivered since the last saved
    /// checkpoint is undone.
    OutputFailed,
    /// After `OutputFailed`: what the output took before it failed, with
    /// the fingerprint and `finished` as they were then.
    OutputTook {
        offset: u64,
        after_cut: bool,
        fingerprint: Fingerprint,
        finished: bool,
    },
    /// Found at start-up at its own path on a device with another number
    /// (an NFS remount, an LVM change), with the same inode, birth and head.
    Remounted { id: FileId },
    /// The predecessor it waited for was let go or is missing (`wait` says
    /// `Over`).
    PredecessorDone,
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
    /// At its path, but no longer watched: read to its end, then let go.
    Unwatched,
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
    /// Its end went out: let go once a checkpoint covers it.
    Finish { delivered: u64 },
    /// Back to the last saved checkpoint.
    RollBack,
    /// Forward again (after `RollBack`) to what a failed output took; a
    /// checkpoint covering it is saved next.
    KeepDelivered {
        offset: u64,
        after_cut: bool,
        fingerprint: Fingerprint,
        finished: bool,
    },
    /// Known under another identity from now on (a device renumbered).
    Renumber { id: FileId },
    /// No longer waits for a predecessor.
    StopWaiting,
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
        ) => reappeared(t, size, born, head, byte_before, changed),
        (State::Following, Observation::Unwatched) => Transition::Unwatched,
        (State::Following, Observation::NotSeen) if open => Transition::RotatedAway,
        (State::Following, Observation::NotSeen) => Transition::LookBeside,
        (State::Missing, Observation::NotSeen) if first_cycle || t.unresolved => {
            Transition::LookBeside
        }
        (_, Observation::NotSeen | Observation::Unwatched | Observation::Unknown) => {
            Transition::Unchanged
        }
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
        ) => rechecked(t, change, head, changed),
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
        (_, &Observation::Finished { delivered }) => Transition::Finish { delivered },
        (_, Observation::OutputFailed) => Transition::RollBack,
        (
            _,
            &Observation::OutputTook {
                offset,
                after_cut,
                fingerprint,
                finished,
            },
        ) => Transition::KeepDelivered {
            offset,
            after_cut,
            fingerprint,
            finished,
        },
        (_, &Observation::Remounted { id }) => Transition::Renumber { id },
        (_, Observation::PredecessorDone) => Transition::StopWaiting,
    }
}

/// Whether a newer file at a path may be read, given the predecessor it
/// waits for (see `Tracked::waits_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Not yet: the predecessor's lines go first.
    Blocked,
    /// Now (checked anew each cycle: a rolled-back cycle can put the
    /// predecessor behind again).
    Free,
    /// For good: the predecessor was let go (once a checkpoint covered it)
    /// or is missing.
    Over,
}

/// Whether a file waiting for `predecessor` to be read up to `mark` (its
/// size when the file was taken on) may be read. A gone predecessor also
/// goes first with its final partial line, delivered once it is quiet; one
/// still followed (seen under its rotated name, `app.log*`) does not: its
/// partial line may never end.
pub fn wait(predecessor: Option<&Tracked>, mark: u64) -> Wait {
    let blocked = match predecessor.map(|p| (p.state, p)) {
        Some((State::Following, p)) => p.cursor.read_pos < mark,
        Some((State::Gone { .. }, p)) => {
            p.cursor.read_pos < mark || (p.cursor.offset < mark && !p.finished)
        }
        Some((State::Retired { .. } | State::Missing, _)) | None => return Wait::Over,
    };
    if blocked {
        Wait::Blocked
    } else {
        Wait::Free
    }
}

/// What the search for generations after a path's last file makes of a
/// sibling of the path (see `generation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Never seen at the path: read from its start before the file there now.
    Unseen,
    /// On the inode of a file known but no longer followed, and another
    /// file: the inode was freed and given to a new generation, rotated in
    /// turn. The file known is forgotten; this one is read like `Unseen`.
    OnKnownInode,
    /// No generation: a copy, a file followed, one born out of bounds.
    No,
}

/// The file last followed at a path, as the search for the generations
/// created and rotated away after it sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Predecessor {
    /// Generations are born within these (inclusive: the kernel stamps
    /// births with a coarse clock, and the files at the bounds are known):
    /// after the predecessor's birth and the last look, before the birth of
    /// the file at the path now.
    pub bounds: Option<(u64, u64)>,
    /// What a copy of it starts like (its head, and its head before its
    /// last truncation).
    pub heads: [Option<Fingerprint>; 2],
    /// Siblings born no later were copies made before its last truncation.
    pub copies_until: Option<u64>,
}

/// Whether a sibling born at `born` (with `known`, the file the collector
/// knows on its inode) is a generation after `p`. `starts_like` reads the
/// sibling's head and says whether it starts like a fingerprint (None: it
/// could not be read); it is asked only when the answer depends on it.
pub fn generation(
    born: Option<u64>,
    known: Option<&Tracked>,
    p: &Predecessor,
    starts_like: &mut dyn FnMut(Fingerprint) -> Option<bool>,
) -> Generation {
    // Made before the predecessor's last truncation was seen: a copy of what
    // it held then (copytruncate), not a later generation.
    if born
        .zip(p.copies_until)
        .is_some_and(|(b, until)| b <= until)
    {
        return Generation::No;
    }
    let recycled = match known {
        Some(t) if t.is_active() => return Generation::No,
        Some(t) => Some((t.born, t.fingerprint)),
        None => None,
    };
    let in_bounds = match (p.bounds, born) {
        (Some((after, before)), Some(b)) => after <= b && b <= before,
        _ => false,
    };
    if recycled.is_none() && !in_bounds {
        return Generation::No;
    }
    if let Some((then, fingerprint)) = recycled {
        let other = match (then, born) {
            (Some(a), Some(b)) => a != b,
            _ => match starts_like(fingerprint) {
                Some(like) => !like,
                None => return Generation::No,
            },
        };
        if !other {
            return Generation::No;
        }
    }
    // A copytruncate copy of the predecessor is born after it too, but
    // starts like it: what it holds was read from the original.
    for &fingerprint in p.heads.iter().flatten() {
        if starts_like(fingerprint) != Some(false) {
            return Generation::No;
        }
    }
    if recycled.is_some() {
        Generation::OnKnownInode
    } else {
        Generation::Unseen
    }
}

/// A missing or retired file seen again, its head re-checked (see
/// `Observation::Reappeared`).
fn reappeared(
    t: &Tracked,
    size: u64,
    born: Option<u64>,
    head: HeadCheck,
    byte_before: Option<u8>,
    changed: Option<u64>,
) -> Transition {
    match head {
        // Born with the file known: the same file, truncated and rewritten
        // while not looked at.
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
    }
}

/// An open file re-checked before a read (see `Observation::Recheck`).
fn rechecked(t: &Tracked, change: Change, head: HeadCheck, changed: Option<u64>) -> Transition {
    match (change, head) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{file, fp, Case};
    use super::*;
    use std::time::Instant;

    #[test]
    fn classify_cases() {
        assert_eq!(classify(10, 10), Change::Unchanged);
        assert_eq!(classify(10, 11), Change::Grew);
        assert_eq!(classify(10, 9), Change::Truncated);
        assert_eq!(classify(0, 0), Change::Unchanged);
        assert_eq!(classify(u64::MAX - 1, u64::MAX), Change::Grew);
    }

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
            ((following, 5, 5, 5, false, false, false), Observation::Unwatched, Transition::Unwatched),
            ((gone, 5, 5, 5, true, false, false), Observation::Unwatched, Transition::Unchanged),
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
            ((gone, 5, 9, 9, true, false, false), Observation::Finished { delivered: 4 }, Transition::Finish { delivered: 4 }),
            ((following, 5, 9, 9, true, false, false), Observation::OutputFailed, Transition::RollBack),
            ((following, 5, 5, 9, true, false, false),
                Observation::OutputTook { offset: 7, after_cut: true, fingerprint: fp(8, 7), finished: false },
                Transition::KeepDelivered { offset: 7, after_cut: true, fingerprint: fp(8, 7), finished: false }),
            ((following, 0, 0, 9, false, false, false), Observation::PredecessorDone, Transition::StopWaiting),
            ((missing, 5, 5, 5, false, false, true), Observation::Remounted { id: FileId { dev: 9, ino: 2 } },
                Transition::Renumber { id: FileId { dev: 9, ino: 2 } }),
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
        // Every variant the enum declares (read from this file, so that no
        // count is kept by hand) is given by some case.
        let declared = declared_transitions();
        let missing: Vec<&String> = declared
            .iter()
            .filter(|v| !seen.contains(v.as_str()))
            .collect();
        assert!(missing.is_empty(), "transitions no case gives: {missing:?}");
        assert_eq!(seen.len(), declared.len(), "{seen:?} {declared:?}");
    }

    #[test]
    fn a_newer_file_waits_for_what_its_predecessor_held() {
        let gone = State::Gone {
            since: Instant::now(),
        };
        #[rustfmt::skip]
        let cases = [
            // (predecessor's state, offset, read_pos, finished), mark -> wait
            ((State::Following, 5, 5, false), 9, Wait::Blocked),
            ((State::Following, 5, 9, false), 9, Wait::Free),
            ((gone, 5, 9, false), 9, Wait::Blocked),
            ((gone, 5, 9, true), 9, Wait::Free),
            ((gone, 9, 9, false), 9, Wait::Free),
            ((State::Retired { at: 1 }, 0, 0, false), 9, Wait::Over),
            ((State::Missing, 0, 0, false), 9, Wait::Over),
        ];
        for ((state, offset, read_pos, finished), mark, want) in cases {
            let mut p = file(state, offset, read_pos, 9);
            p.finished = finished;
            assert_eq!(
                wait(Some(&p), mark),
                want,
                "{state:?} {offset} {read_pos} {finished}"
            );
        }
        assert_eq!(wait(None, 9), Wait::Over);
    }

    #[test]
    fn generations_are_told_from_copies_and_known_files() {
        let p = Predecessor {
            bounds: Some((10, 20)),
            heads: [Some(fp(4, 1)), None],
            copies_until: Some(12),
        };
        let like = |hash| move |f: Fingerprint| Some(f.hash == hash);
        let retired = file(State::Retired { at: 1 }, 9, 9, 9); // born 1, fp(4, 9)
        let followed = file(State::Following, 9, 9, 9);
        #[rustfmt::skip]
        let cases: [(Option<u64>, Option<&Tracked>, u64, Generation); 9] = [
            (Some(15), None, 7, Generation::Unseen),
            (Some(15), None, 1, Generation::No),        // starts like the predecessor: a copy
            (Some(12), None, 7, Generation::No),        // born before its last truncation
            (Some(25), None, 7, Generation::No),        // after the file at the path now
            (Some(5), None, 7, Generation::No),         // before the predecessor (or the last look)
            (None, None, 7, Generation::No),            // no birth time: nothing to bound it
            (Some(25), Some(&retired), 7, Generation::OnKnownInode), // another birth on a known inode
            (Some(1), Some(&retired), 7, Generation::No), // the file known, same birth
            (Some(15), Some(&followed), 7, Generation::No), // followed already
        ];
        for (born, known, head, want) in cases {
            assert_eq!(
                generation(born, known, &p, &mut like(head)),
                want,
                "{born:?} {head}"
            );
        }
        // Without birth times a file on a known inode is told by its head.
        let mut t = file(State::Retired { at: 1 }, 9, 9, 9);
        t.born = None;
        assert_eq!(
            generation(None, Some(&t), &p, &mut like(7)),
            Generation::OnKnownInode
        );
        assert_eq!(generation(None, Some(&t), &p, &mut like(9)), Generation::No);
        assert_eq!(
            generation(Some(15), None, &p, &mut |_| None),
            Generation::No
        );
    }

    /// The variants of `Transition` as declared in this file.
    fn declared_transitions() -> Vec<String> {
        let src = include_str!("decide.rs");
        let body = src
            .split_once("pub enum Transition {")
            .expect("the enum")
            .1
            .split_once("\n}\n")
            .expect("its end")
            .0;
        body.lines()
            .filter_map(|l| {
                let l = l.strip_prefix("    ")?;
                let name: String = l
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                (name.starts_with(|c: char| c.is_ascii_uppercase())).then_some(name)
            })
            .collect()
    }

    /// The name of each transition; the match has no catch-all, so a new
    /// variant does not compile until it is named here (and the test above
    /// then fails until a case gives it).
    fn variant(t: &Transition) -> &'static str {
        match t {
            Transition::Unchanged => "Unchanged",
            Transition::Resized { .. } => "Resized",
            Transition::LookBeside => "LookBeside",
            Transition::CheckHead => "CheckHead",
            Transition::Resume { .. } => "Resume",
            Transition::ResumeTruncated { .. } => "ResumeTruncated",
            Transition::CameBack { .. } => "CameBack",
            Transition::RotatedAway => "RotatedAway",
            Transition::Unwatched => "Unwatched",
            Transition::FoundBeside { .. } => "FoundBeside",
            Transition::Vanished => "Vanished",
            Transition::Retire => "Retire",
            Transition::Recycled => "Recycled",
            Transition::Grew { .. } => "Grew",
            Transition::ShrunkOnce => "ShrunkOnce",
            Transition::Truncated { .. } => "Truncated",
            Transition::NewContent { .. } => "NewContent",
            Transition::Steady => "Steady",
            Transition::GrewWhileGone { .. } => "GrewWhileGone",
            Transition::SizeOverstated => "SizeOverstated",
            Transition::LookAgain => "LookAgain",
            Transition::Drained => "Drained",
            Transition::LetGo { .. } => "LetGo",
            Transition::Finish { .. } => "Finish",
            Transition::RollBack => "RollBack",
            Transition::KeepDelivered { .. } => "KeepDelivered",
            Transition::Renumber { .. } => "Renumber",
            Transition::StopWaiting => "StopWaiting",
        }
    }
}
