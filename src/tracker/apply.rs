//! Carrying out transitions, and the other changes of a file's position:
//! what was read and delivered, a finished file, a commit, a roll-back.

use std::time::{Duration, Instant};

use std::fs::File;
use std::path::Path;

use super::{
    classify, decide, quiet, unix_now, Change, Cursor, Event, Observation, State, Tracked,
    Transition,
};
use crate::error::show;
use crate::identity::Fingerprint;

/// What an observation of a file asks of the collector next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Carried out: what to log and count.
    Done(Vec<Event>),
    /// Not seen and not open: look for it beside its path and observe
    /// `Beside`.
    LookBeside,
    /// Known from the checkpoint or retired and seen again: re-check its
    /// head through a descriptor opened now and observe `Reappeared`.
    CheckHead,
    /// Another file on its inode: forget it, and take the new one on.
    Replaced,
}

impl Next {
    /// The events of an observation that needs no further look (for one
    /// that cannot need any: a re-check, a read, a commit).
    pub fn events(self) -> Vec<Event> {
        match self {
            Next::Done(events) => events,
            Next::LookBeside | Next::CheckHead | Next::Replaced => Vec::new(),
        }
    }
}

impl Tracked {
    /// The entry point of the lifecycle: what `observation` means for this
    /// file (`decide`), carried out (`apply`), or the look it needs first.
    /// `first_cycle`: the first look since start-up.
    #[inline(always)]
    #[must_use = "the answer says what to do, log and count"]
    pub fn observe(&mut self, observation: &Observation, first_cycle: bool) -> Next {
        match decide(self, observation, first_cycle) {
            Transition::LookBeside => Next::LookBeside,
            Transition::CheckHead => {
                self.apply(Transition::CheckHead).clear();
                Next::CheckHead
            }
            Transition::Recycled => {
                self.apply(Transition::Recycled).clear();
                Next::Replaced
            }
            transition => Next::Done(self.apply(transition)),
        }
    }

    /// Carries out `transition` (from `decide` on this file); returns what
    /// the collector must log and count. Each transition's effects, its
    /// message (said of the file as it is before it) included, are in its
    /// own arm or in the one method that arm calls.
    #[inline(always)]
    #[must_use = "the events say what to log and count"]
    pub fn apply(&mut self, transition: Transition) -> Vec<Event> {
        use log::Level::{Debug, Info};
        let mut events = Vec::new();
        let e = &mut events;
        match transition {
            // Nothing known yet, or nothing new: a file from the checkpoint
            // stays unresolved.
            Transition::Unchanged | Transition::LookBeside | Transition::LookAgain => {}
            // What an idle cycle applies to every file: nothing to say, no
            // time to take.
            Transition::Resized { size } => self.size = size,
            Transition::CheckHead | Transition::Recycled => self.unresolved = false,
            Transition::Steady => (self.unresolved, self.shrink_seen) = (false, false),
            Transition::ShrunkOnce => self.shrunk_once(e),
            Transition::Resume {
                size,
                born,
                fingerprint,
                after_cut,
            } => self.resume(e, size, born, fingerprint, after_cut),
            Transition::ResumeTruncated {
                size,
                born,
                fingerprint,
                changed,
            } => self.resume_truncated(e, size, born, fingerprint, changed),
            Transition::CameBack { size } => {
                let (path, at) = (show(&self.path), show(self.seen_at()));
                self.log(e, Debug, || format!("{path} is back in view at {at}"));
                (self.state, self.size) = (State::Following, size);
                self.resolved(e);
            }
            Transition::RotatedAway => {
                let path = show(&self.path);
                self.log(e, Info, || {
                    format!("{path} was renamed away or deleted; reading the rest of it")
                });
                self.gone(e);
            }
            Transition::Unwatched => self.unwatched(e),
            Transition::FoundBeside {
                path,
                size,
                after_cut,
            } => self.found_beside(e, &path, size, after_cut),
            Transition::Vanished => self.vanished(e),
            Transition::Retire => {
                if self.state == State::Following {
                    let path = show(&self.path);
                    self.log(e, Info, || format!("{path} was renamed away or deleted"));
                    e.push(Event::Rotation);
                }
                self.retire(e, unix_now());
            }
            Transition::Grew { fingerprint } => self.grew(e, fingerprint),
            Transition::Truncated {
                fingerprint,
                changed,
            } => {
                let (path, size, read) = (show(&self.path), self.size, self.cursor.read_pos);
                self.rewritten(e, fingerprint, changed, || {
                    format!("{path} was truncated (size {size} < offset {read})")
                });
            }
            Transition::NewContent {
                fingerprint,
                changed,
            } => {
                let path = show(&self.path);
                self.rewritten(e, fingerprint, changed, || {
                    format!("{path} has new content at its start (truncated and rewritten)")
                });
            }
            Transition::GrewWhileGone { size } => {
                let since = Instant::now();
                (self.size, self.state, self.unresolved) = (size, State::Gone { since }, false);
            }
            Transition::SizeOverstated => {
                (self.size, self.unresolved) = (self.cursor.read_pos, false);
            }
            Transition::Drained => self.delivered(e, unix_now(), "closed while the output waits"),
            Transition::Finish { delivered } => self.finish(e, delivered),
            Transition::RollBack => self.roll_back(),
            Transition::KeepDelivered {
                offset,
                after_cut,
                fingerprint,
                finished,
            } => self.keep_delivered(offset, after_cut, fingerprint, finished),
            Transition::Renumber { id } => self.id = id,
            Transition::StopWaiting => self.waits_for = None,
            Transition::LetGo { at } => {
                self.finished = false;
                self.delivered(e, at, "closed");
            }
        }
        events
    }

    /// `Transition::Resume`: the same file again, followed on from its offset.
    fn resume(
        &mut self,
        events: &mut Vec<Event>,
        size: u64,
        born: Option<u64>,
        fingerprint: Fingerprint,
        after_cut: bool,
    ) {
        let (path, offset) = (show(&self.path), self.cursor.offset);
        self.log(events, log::Level::Debug, || {
            format!("resuming {path} at offset {offset}")
        });
        (self.fingerprint, self.born, self.size) = (fingerprint, born, size);
        self.state = State::Following;
        self.cursor = Cursor::at(offset, after_cut);
        self.committed_fingerprint = self.fingerprint;
        self.resolved(events);
    }

    /// `Transition::ResumeTruncated`: truncated, or truncated and rewritten,
    /// while not looked at; read again from the start.
    fn resume_truncated(
        &mut self,
        events: &mut Vec<Event>,
        size: u64,
        born: Option<u64>,
        fingerprint: Fingerprint,
        changed: Option<u64>,
    ) {
        let (path, offset) = (show(&self.path), self.cursor.offset);
        self.log(events, log::Level::Warn, || {
            if size < offset {
                format!(
                    "{path} was truncated (size {size} < checkpointed offset {offset}); \
                     reading it again from the start"
                )
            } else {
                format!(
                    "{path} has new content at its start (truncated and rewritten while \
                     not looked at); reading it again from the start"
                )
            }
        });
        (self.born, self.size) = (born, size);
        self.state = State::Following;
        self.truncated(fingerprint, changed);
        self.cursor.commit();
        self.committed_fingerprint = self.fingerprint;
        events.push(Event::Truncation);
        self.resolved(events);
    }

    /// `Transition::FoundBeside`: renamed away while closed, found at `at`;
    /// read to its end from there.
    fn found_beside(&mut self, events: &mut Vec<Event>, at: &Path, size: u64, after_cut: bool) {
        let path = show(&self.path);
        self.log(events, log::Level::Info, || {
            format!(
                "{path} was renamed away (to {}); reading the rest of it",
                show(at)
            )
        });
        if self.state == State::Missing {
            // Taken up from the checkpoint: its offset is committed.
            self.cursor = Cursor::at(self.cursor.offset, after_cut);
            self.committed_fingerprint = self.fingerprint;
        }
        self.set_seen_at(at);
        self.size = size;
        self.gone(events);
    }

    /// `Transition::Unwatched`: at its path but no longer watched. Open (a
    /// partial line or a recent change), it is read to its end as a rotated
    /// file is; closed, everything seen of it was read, and it is let go.
    fn unwatched(&mut self, events: &mut Vec<Event>) {
        let path = show(&self.path);
        let open = self.file.is_some();
        self.log(events, log::Level::Info, || {
            let then = if open {
                "reading the rest of it, then letting it go"
            } else {
                "letting it go"
            };
            format!("{path} is no longer named by a PATH, or is excluded now; {then}")
        });
        if open {
            self.state = State::Gone {
                since: Instant::now(),
            };
            self.resolved(events);
        } else {
            self.retire(events, unix_now());
        }
    }

    /// `Transition::Vanished`: not found anywhere with bytes undelivered.
    fn vanished(&mut self, events: &mut Vec<Event>) {
        let (path, ino, offset) = (show(&self.path), self.id.ino, self.cursor.offset);
        self.log(events, log::Level::Warn, || {
            format!(
                "{path} (inode {ino}) was renamed away or deleted and is not found \
                 beside it; what it held after offset {offset} is not delivered"
            )
        });
        if self.state == State::Following {
            events.push(Event::Rotation);
        }
        self.state = State::Missing;
        self.resolved(events);
    }

    /// No longer at its path: read to its end, then let go.
    fn gone(&mut self, events: &mut Vec<Event>) {
        self.state = State::Gone {
            since: Instant::now(),
        };
        events.push(Event::Rotation);
        self.resolved(events);
    }

    /// Fully delivered: let go at Unix time `at`, and logged so (`how`).
    fn delivered(&mut self, events: &mut Vec<Event>, at: u64, how: &str) {
        let path = show(&self.path);
        self.log(events, log::Level::Debug, || {
            format!("{path} fully delivered; {how}")
        });
        self.retire(events, at);
    }

    /// Let go at Unix time `at`, its descriptor closed.
    fn retire(&mut self, events: &mut Vec<Event>, at: u64) {
        self.file = None;
        self.state = State::Retired { at };
        self.resolved(events);
    }

    /// `Transition::Finish`: the rest of a gone file went out (`delivered`
    /// bytes, 0 if it could not be read); it is let go once the checkpoint
    /// covering that is saved.
    fn finish(&mut self, events: &mut Vec<Event>, delivered: u64) {
        if delivered > 0 {
            self.cursor.skip(delivered);
        }
        self.finished = true;
        events.push(Event::Dirty);
    }

    /// `Transition::RollBack`: everything since the last saved checkpoint
    /// is forgotten.
    fn roll_back(&mut self) {
        self.cursor.roll_back();
        self.fingerprint = self.committed_fingerprint;
        self.finished = false;
    }

    /// `Transition::KeepDelivered`: after a roll-back, forward again to what
    /// a failed output took before it failed (with the fingerprint and
    /// `finished` as they were then); a checkpoint covering it is saved next.
    fn keep_delivered(
        &mut self,
        offset: u64,
        after_cut: bool,
        fingerprint: Fingerprint,
        finished: bool,
    ) {
        self.cursor.forward_to(offset, after_cut);
        (self.fingerprint, self.finished) = (fingerprint, finished);
    }

    /// `Transition::ShrunkOnce`: looked shorter once; looked at again.
    fn shrunk_once(&mut self, events: &mut Vec<Event>) {
        let path = show(&self.path);
        self.log(events, log::Level::Debug, || {
            format!("{path} looks shorter than what was read; looking again")
        });
        (self.unresolved, self.shrink_seen) = (false, true);
        self.changed_at = Some(Instant::now());
    }

    /// `Transition::Grew`: the same head; the fingerprint may cover more.
    fn grew(&mut self, events: &mut Vec<Event>, fingerprint: Fingerprint) {
        if fingerprint != self.fingerprint {
            events.push(Event::Dirty);
        }
        self.fingerprint = fingerprint;
        (self.unresolved, self.shrink_seen) = (false, false);
        self.changed_at = Some(Instant::now());
    }

    /// Truncated or rewritten while followed (`what` happened): read again
    /// from the start.
    fn rewritten(
        &mut self,
        events: &mut Vec<Event>,
        fingerprint: Fingerprint,
        changed: Option<u64>,
        what: impl FnOnce() -> String,
    ) {
        self.log(events, log::Level::Warn, || {
            format!("{}; reading it again from the start", what())
        });
        self.truncated(fingerprint, changed);
        self.changed_at = Some(Instant::now());
        events.push(Event::Truncation);
        self.resolved(events);
    }

    /// Pushes a log line, formatted only when its level is enabled (an idle
    /// cycle applies a transition to every file).
    fn log(&self, events: &mut Vec<Event>, level: log::Level, message: impl FnOnce() -> String) {
        if log::log_enabled!(level) {
            events.push(Event::Log(level, message()));
        }
    }

    /// Something the checkpoint records changed, and the file from the
    /// checkpoint is resolved.
    fn resolved(&mut self, events: &mut Vec<Event>) {
        self.unresolved = false;
        events.push(Event::Dirty);
    }

    /// Truncated, or other bytes at its start: read again from the start
    /// with the head `fingerprint`; a copy of what it held (copytruncate)
    /// starts like the old head and was born no later than `changed`.
    fn truncated(&mut self, fingerprint: Fingerprint, changed: Option<u64>) {
        let before = self.fingerprint;
        let aside = self.aside_mut();
        aside.before_truncation = Some(before);
        aside.copies_until = changed.or(aside.copies_until);
        self.restart(fingerprint);
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
        self.observe(&Observation::Saved { at: now }, false)
            .events()
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

#[cfg(test)]
mod tests {
    use super::super::tests::{file, fp};
    use super::*;

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
        t.apply(Transition::Finish { delivered: 4 }).clear();
        assert_eq!(t.offset(), 9);
        assert_eq!(t.entry(77).retired, Some(77));
        assert!(t.committed(78).contains(&Event::Dirty));
        assert_eq!(t.state, State::Retired { at: 78 });
        assert!(!t.is_open());
    }

    #[test]
    fn roll_back_returns_to_the_commit() {
        let mut t = file(State::Following, 5, 5, 100);
        t.advance(45, 55, true).clear();
        t.apply(Transition::Finish { delivered: 0 }).clear();
        t.apply(Transition::RollBack).clear();
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
        // What a failed output took before it failed is kept, to be committed.
        t.apply(Transition::KeepDelivered {
            offset: 30,
            after_cut: true,
            fingerprint: fp(8, 7),
            finished: true,
        })
        .clear();
        let e = t.entry(2);
        assert_eq!(
            (e.offset, e.retired, e.fingerprint),
            (30, Some(2), fp(8, 7))
        );
        assert_eq!((t.cursor.read_pos(), t.cursor.committed_offset()), (30, 5));
    }
}
