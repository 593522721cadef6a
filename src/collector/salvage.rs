//! Keeping what a failed output took. When the output fails with an error
//! worth retrying, the cycle is undone back to the last checkpoint; but the
//! output may have taken part of what it was sent since: a file holds what
//! was written before ENOSPC, a command read some lines before it exited.
//! Sending those again would repeat them, and an output that always fails
//! at the same point would never get past it: a disk with less room than
//! one cycle's lines, a command that handles one line and exits.
//!
//! So each time a file's position advances past lines put into the batch
//! (or written or copied out), a mark records where in the output those
//! lines end, counted from the last checkpoint, and where the file stands
//! after them. After a failure the output tells how many bytes since the
//! checkpoint surely arrived; each file goes back only to its last mark
//! within that figure, and a checkpoint covering it is saved. A mark covers
//! one read (up to a few MiB), so the mark that straddles the figure is
//! looked into: its bytes are read again and encoded line by line (the
//! splitter and the encoders are deterministic) to find the last whole line
//! within the figure. That re-encoding must come out exactly as long as the
//! mark says and end where it does, or only whole marks are kept.

use std::collections::HashMap;
use std::time::Duration;

use super::{open_verified, Collector};
use crate::encode::Shared;
use crate::identity::{self, Fingerprint};
use crate::lines::{self, Chunk};
use crate::output::{Output, Position};
use crate::settings::{Format, Settings};
use crate::tracker::{Observation, Tracked};

/// `max_line_bytes`, format and the length of json's `Shared` part: marks
/// made with other settings do not tell where lines end in what is encoded
/// now (the time of a read is as long whatever it says).
type MadeWith = (usize, Format, usize);

fn made_with(settings: &Settings, shared: &Shared) -> MadeWith {
    (settings.max_line_bytes, settings.format, shared.len())
}

/// Marks kept at most between two checkpoints; later ones are not recorded
/// (a failure then keeps less, never too much).
const MAX_MARKS: usize = 1 << 14;

/// Where a file stands after some of its lines went out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stand {
    offset: u64,
    after_cut: bool,
    fingerprint: Fingerprint,
    finished: bool,
}

impl Stand {
    fn of(t: &Tracked) -> Stand {
        Stand {
            offset: t.offset(),
            after_cut: t.cursor().after_cut(),
            fingerprint: t.fingerprint(),
            finished: t.finished(),
        }
    }

    fn apply(self, t: &mut Tracked) {
        let took = Observation::OutputTook {
            offset: self.offset,
            after_cut: self.after_cut,
            fingerprint: self.fingerprint,
            finished: self.finished,
        };
        // Nothing to log or count: the commit that follows records it.
        t.observe(&took, false).events();
    }
}

#[derive(Debug)]
struct Mark {
    /// Output bytes since the checkpoint, up to the end of these lines.
    out: u64,
    seq: u64,
    /// The file's offset and `after_cut` before these lines.
    from: (u64, bool),
    to: Stand,
}

/// The marks since the last checkpoint.
#[derive(Debug)]
pub(super) struct Marks {
    /// The output's position at the last checkpoint (or failure).
    base: Position,
    /// What the marks were made with (see `made_with`).
    made_with: MadeWith,
    log: Vec<Mark>,
    /// No more marks until the next checkpoint: the log is a prefix.
    closed: bool,
}

impl Marks {
    pub(super) fn new(output: &Output, settings: &Settings, shared: &Shared) -> Marks {
        Marks {
            base: output.position(),
            made_with: made_with(settings, shared),
            log: Vec::new(),
            // An output that cannot tell what arrived keeps no marks.
            closed: !output.tells_delivery(),
        }
    }

    /// Forgets the marks; the next ones count from `output`'s position now.
    fn restart(&mut self, output: &Output, settings: &Settings, shared: &Shared) {
        self.base = output.position();
        self.made_with = made_with(settings, shared);
        self.log.clear();
        self.log.shrink_to(256);
        self.closed = !output.tells_delivery();
    }
}

impl Collector<'_> {
    /// Hook: file `seq` advanced from `from` (offset, after_cut) past lines
    /// that are now in the batch, or written out, or in `pending` bytes
    /// about to be written after the batch.
    pub(super) fn marked(&mut self, seq: u64, from: (u64, bool), pending: usize) {
        let to = self.table.files.get(&seq).map(|t| Stand::of(t));
        self.push_mark(seq, from, to, pending);
    }

    /// Hook: a copy of the `len` bytes of whole lines at `offset` in file
    /// `seq` failed; part of it may be in the output.
    #[cfg_attr(
        not(all(
            any(target_os = "linux", target_os = "android"),
            target_pointer_width = "64"
        )),
        allow(dead_code)
    )]
    pub(super) fn marked_failed_copy(&mut self, seq: u64, offset: u64, len: usize) {
        let to = self.table.files.get(&seq).map(|t| Stand {
            offset: offset + len as u64,
            after_cut: false,
            ..Stand::of(t)
        });
        self.push_mark(seq, (offset, false), to, len);
    }

    fn push_mark(&mut self, seq: u64, from: (u64, bool), to: Option<Stand>, pending: usize) {
        let marks = &mut self.commits.marks;
        if marks.closed {
            return;
        }
        let settings = made_with(&self.settings, &self.scratch.shared);
        let sent = self.output.position().since(marks.base);
        match (to, sent) {
            (Some(to), Some(sent))
                if marks.log.len() < MAX_MARKS && settings == marks.made_with =>
            {
                marks.log.push(Mark {
                    out: sent + (self.scratch.batch.len() + pending) as u64,
                    seq,
                    from,
                    to,
                });
            }
            _ => marks.closed = true,
        }
    }

    /// Hook: the output's position now is where the next marks count from
    /// (a checkpoint was saved, or a failure was dealt with).
    pub(super) fn restart_marks(&mut self) {
        self.commits
            .marks
            .restart(&self.output, &self.settings, &self.scratch.shared);
    }

    /// Hook, after a failed cycle was rolled back to the last checkpoint:
    /// moves each file forward again to what the output surely took, and
    /// saves a checkpoint covering that. Does nothing when the output took
    /// no whole line, or when that cannot be made durable or saved.
    pub(super) fn keep_delivered(&mut self) {
        let marks = std::mem::take(&mut self.commits.marks.log);
        if marks.is_empty() {
            return;
        }
        let figure = self
            .output
            .delivered_since(self.commits.marks.base, self.commits.committed_output);
        let whole = marks.partition_point(|m| m.out <= figure);
        let mut end = whole.checked_sub(1).map_or(0, |i| marks[i].out);
        let mut keep: HashMap<u64, Stand> = marks[..whole].iter().map(|m| (m.seq, m.to)).collect();
        if let Some((out, stand)) = marks.get(whole).and_then(|m| self.within(m, end, figure)) {
            keep.insert(marks[whole].seq, stand);
            end = out;
        }
        if keep.is_empty() {
            return;
        }
        let length = self.commits.committed_output.map(|c| c + end);
        if let Err(e) = self.output.keep(length, self.settings.fsync) {
            log::debug!(
                "cannot keep what {} took: {e}; all of it is sent again",
                self.output.describe()
            );
            return;
        }
        for (seq, stand) in keep {
            if let Some(t) = self.table.files.get_mut(&seq) {
                stand.apply(t);
            }
        }
        self.commits.dirty = true;
        self.commit();
        if self.commits.dirty {
            // Not saved: back to the checkpoint after all.
            for t in self.table.files.values_mut() {
                t.observe(&Observation::OutputFailed, false).events();
            }
            self.looking.watch.invalidate();
            return;
        }
        if end > 0 {
            log::info!(
                "{} took {end} bytes of whole lines before it failed; they are not sent again",
                self.output.describe()
            );
            // It made progress: the backoff starts over.
            self.commits.retry_delay = Duration::from_millis(100);
        }
    }

    /// The last whole line or piece of mark `m` that ends within `figure`,
    /// found by reading the mark's bytes again and encoding them line by
    /// line from output position `start`, where the mark's bytes begin.
    /// Returns the output position after it and where the file then stands.
    fn within(&self, m: &Mark, start: u64, figure: u64) -> Option<(u64, Stand)> {
        let max = self.settings.max_line_bytes;
        if made_with(&self.settings, &self.scratch.shared) != self.commits.marks.made_with {
            return None;
        }
        let t = self.table.files.get(&m.seq)?;
        let reopened;
        let file = match t.file() {
            Some(file) => file,
            None => {
                reopened = open_verified(t.seen_at(), t.id())?;
                &reopened
            }
        };
        // The same bytes as then: the head is unchanged.
        let size = file.metadata().ok()?.len();
        identity::recheck(file, size, m.to.fingerprint).ok()??;
        let len = usize::try_from(m.to.offset.checked_sub(m.from.0)?).ok()?;
        let mut bytes = vec![0; len];
        if identity::read_full_at(file, &mut bytes, m.from.0).ok()? != len {
            return None;
        }
        let mut scratch = Vec::new();
        let mut out = start;
        let mut last = None;
        let mut encoded = |chunk: Chunk, end: u64, after_cut: bool| {
            scratch.clear();
            // Any time will do: it is as wide whatever it says.
            t.encoder()
                .encode(chunk, &self.scratch.shared, &mut scratch);
            out += scratch.len() as u64;
            if out <= figure {
                last = Some((out, end, after_cut));
            }
        };
        let split = lines::split(&bytes, m.from.0, max, m.from.1, |chunk| match chunk {
            Chunk::Lines { offset, bytes } => {
                let mut at = offset;
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    let end = at + line.len() as u64;
                    encoded(
                        Chunk::Lines {
                            offset: at,
                            bytes: line,
                        },
                        end,
                        false,
                    );
                    at = end;
                }
            }
            Chunk::Piece { offset, bytes } => {
                encoded(chunk, offset + bytes.len() as u64, true);
            }
        });
        if split.consumed != len || split.after_cut != m.to.after_cut || out != m.out {
            return None;
        }
        let (out, offset, after_cut) = last?;
        let stand = Stand {
            offset,
            after_cut,
            fingerprint: m.to.fingerprint,
            finished: false,
        };
        Some((out, stand))
    }
}
