//! Steps 3 and 4 of a cycle: read what is new in each active file, oldest
//! first and within a budget per file, split it into lines, encode them into
//! the batch and write the batch out; and let go of files that are done.

use std::ops::Range;
use std::time::{Instant, SystemTime};

use super::{
    emit, open_verified, stats_line, Collector, BATCH_BYTES, COPY_MIN, DIRECT_BYTES, FILE_BUDGET,
    MAP_CHUNK,
};
use crate::error::show;
use crate::identity::{self, FileId};
use crate::lines::{self, Chunk};
use crate::output::WriteError;

use crate::tracker::{self, Change, HeadCheck, Observation, Wait};

impl Collector<'_> {
    /// Steps 3 and 4: read, split, encode and write every active file.
    /// Returns whether some file still has bytes to read.
    pub(super) fn deliver(&mut self) -> Result<bool, WriteError> {
        let mut backlog = false;
        self.scratch.order.clear();
        // Settled files have no work and no descriptor.
        let files = &self.table.files;
        let unsettled = self
            .table
            .unsettled
            .iter()
            .filter_map(|&seq| Some((seq, files.get(&seq)?)));
        self.fds.open = 0;
        for (seq, t) in unsettled {
            self.fds.open += usize::from(t.is_open());
            if t.has_work() {
                self.scratch.order.push(seq);
            }
        }
        let order = std::mem::take(&mut self.scratch.order);
        for &seq in &order {
            if self.signals.should_stop() {
                break;
            }
            if self.waiting(seq) {
                continue;
            }
            let more = self.read_file(seq)?;
            backlog |= more;
            self.let_go(seq, more);
        }
        self.scratch.order = order;
        self.flush()?;
        Ok(backlog)
    }

    /// Closes a followed file's descriptor after its turn when it is not
    /// needed (see `Tracked::let_go`): idle files then cost a stat and
    /// nothing more, and thousands of files fit in a small descriptor limit.
    /// Lately changed files keep their descriptor only while half the budget
    /// is free: files with bytes to read come first.
    pub(super) fn let_go(&mut self, seq: u64, more: bool) {
        let over_budget = self.fds.open > self.fds.max;
        // Files with bytes to read come first: those that changed lately or
        // hold a partial line keep their descriptor only while half the
        // budget is free.
        let lately_allowed = self.fds.open < self.fds.max / 2;
        let interval = self.settings.interval;
        let Some(t) = self.table.files.get_mut(&seq) else {
            return;
        };
        if t.let_go(more, over_budget, lately_allowed, interval) {
            self.fds.open -= 1;
        }
    }

    /// Whether file `seq` must wait for its predecessor to be read further.
    pub(super) fn waiting(&mut self, seq: u64) -> bool {
        let Some((pseq, mark)) = self.table.files.get(&seq).and_then(|t| t.waits_for()) else {
            return false;
        };
        match tracker::wait(self.table.files.get(&pseq).map(|p| &**p), mark) {
            Wait::Blocked => true,
            Wait::Free => false,
            Wait::Over => {
                if let Some(t) = self.table.files.get_mut(&seq) {
                    let events = t.observe(&Observation::PredecessorDone, false).events();
                    self.emit(events);
                }
                false
            }
        }
    }

    /// Reads what is new in one file, up to the per-cycle budget: open it
    /// if its turn needs the descriptor, re-check it, drain it, and finish
    /// it if it is gone and quiet. Returns whether bytes are left to read.
    pub(super) fn read_file(&mut self, seq: u64) -> Result<bool, WriteError> {
        if !self.open_for_turn(seq) || !self.recheck(seq) {
            return Ok(false);
        }
        if !self.drain(seq)? {
            // A read failed: looked at again next cycle, not at once.
            return Ok(false);
        }
        let (interval, once) = (self.settings.interval, self.settings.once);
        let t = self.table.files.get(&seq).expect("still tracked");
        if t.due_to_finish(interval, once) {
            self.finish_gone(seq)?;
        }
        Ok(self.table.files.get(&seq).is_some_and(|t| t.unread()))
    }

    /// Opens a closed file when its turn needs it (it changed, it is gone, a
    /// partial line is due), within the descriptor budget. Returns whether
    /// the file is open now.
    fn open_for_turn(&mut self, seq: u64) -> bool {
        let (interval, once) = (self.settings.interval, self.settings.once);
        let Some(t) = self.table.files.get_mut(&seq) else {
            return false;
        };
        if t.is_open() {
            return true;
        }
        // Its turn comes once others let go: those still reading keep the
        // loop going, and gone files waiting to be let go should not.
        if !t.wants_open(interval, once) || self.fds.open >= self.fds.max {
            return false;
        }
        match identity::open_for_reading(t.seen_at()) {
            Ok(f) if f.metadata().is_ok_and(|m| FileId::of(&m) == t.id()) => {
                t.attach(f);
                self.fds.open += 1;
                true
            }
            // Another file at that path now: the next look sorts it out.
            Ok(_) => false,
            Err(e) => {
                let path = t.seen_at().to_path_buf();
                self.warn_once(&path, format!("cannot open {}: {e}; retrying", show(&path)));
                false
            }
        }
    }

    /// Re-checks an open file before reading: a gone file's size through its
    /// descriptor, and the head whenever the size changed (a file truncated
    /// and rewritten past the old offset within one interval is a new file).
    /// Returns whether it is to be read now.
    fn recheck(&mut self, seq: u64) -> bool {
        let first = self.looking.first_cycle;
        let t = self.table.files.get_mut(&seq).expect("still tracked");
        let Some(file) = t.file() else {
            return false;
        };
        if t.is_gone() {
            match file.metadata() {
                Ok(m) => {
                    let next = t.observe(&Observation::Fstat { size: m.len() }, first);
                    self.emit(next.events());
                }
                Err(e) => {
                    self.read_failed(seq, e);
                    return false;
                }
            }
        }
        let t = self.table.files.get_mut(&seq).expect("still tracked");
        let Some(file) = t.file() else {
            return false;
        };
        let change = tracker::classify(t.cursor().read_pos(), t.size());
        let head = match change {
            Change::Unchanged => Ok(HeadCheck::Same(t.fingerprint())),
            // Told by the bytes before the offset, in the read that follows.
            Change::Grew if t.checks_behind() => Ok(HeadCheck::Same(t.fingerprint())),
            Change::Grew => {
                match identity::recheck_quick(file, t.size(), t.fingerprint(), t.quick()) {
                    Ok(Some((fp, quick))) => {
                        t.set_quick(fp, quick);
                        Ok(HeadCheck::Same(fp))
                    }
                    Ok(None) => identity::fingerprint(file, t.size()).map(HeadCheck::Other),
                    Err(e) => Err(e),
                }
            }
            Change::Truncated => match identity::recheck(file, t.size(), t.fingerprint()) {
                Ok(Some(fp)) => Ok(HeadCheck::Same(fp)),
                Ok(None) => identity::fingerprint(file, t.size()).map(HeadCheck::Other),
                Err(e) => Err(e),
            },
        };
        let head = match head {
            Ok(head) => head,
            Err(e) => {
                self.read_failed(seq, e);
                return false;
            }
        };
        self.rechecked(seq, change, head)
    }

    /// Carries out what a re-check of open file `seq` found: how its size
    /// changed and what its head (or the bytes before its offset) says.
    /// Returns whether it is to be read now.
    fn rechecked(&mut self, seq: u64, change: Change, head: HeadCheck) -> bool {
        let first = self.looking.first_cycle;
        let t = self.table.files.get_mut(&seq).expect("still tracked");
        // A truncation: when it was seen tells later copies from generations.
        let changed = match (change, head) {
            (Change::Truncated, _) | (_, HeadCheck::Other(_)) => t
                .file()
                .and_then(|f| f.metadata().ok())
                .and_then(|m| identity::changed(&m)),
            _ => None,
        };
        let recheck = Observation::Recheck {
            change,
            head,
            changed,
        };
        let events = t.observe(&recheck, first).events();
        // Looked shorter once: looked at again next cycle before it is read.
        let ready = t.is_open() && !t.shrink_seen();
        self.emit(events);
        ready
    }

    /// Reads, splits, encodes and writes what is new in an open file, up to
    /// the per-cycle budget. Returns false if a read failed.
    fn drain(&mut self, seq: u64) -> Result<bool, WriteError> {
        let max = self.settings.max_line_bytes;
        let mut budget = FILE_BUDGET;
        let mut try_copy = self.output.can_copy();
        loop {
            // Looked up again each round: the batch is written out between
            // rounds, and while the output blocks, other files are tended to.
            let t = self.table.files.get_mut(&seq).expect("still tracked");
            if !t.is_open() || !t.unread() || budget == 0 {
                return Ok(true);
            }
            let cursor = t.cursor();
            // A raw backlog into a regular file is copied in the kernel,
            // a window of whole lines at a time.
            if try_copy
                && t.encoder().is_raw()
                && !cursor.after_cut()
                && t.size() - cursor.offset() >= COPY_MIN
            {
                match self.copy_lines(seq)? {
                    Some(n) => {
                        budget = budget.saturating_sub(n as u64);
                        continue;
                    }
                    None => try_copy = false,
                }
            }
            let t = self.table.files.get_mut(&seq).expect("still tracked");
            let Some(file) = t.file() else {
                return Ok(true);
            };
            let base = cursor.offset();
            // The bytes just before the offset come again with the new ones:
            // delivered before, they must read the same (see `checks_behind`).
            let k = base.min(tracker::BEHIND) as usize;
            let want = usize::try_from(t.size() - base)
                .unwrap_or(usize::MAX)
                .saturating_add(k)
                .min(self.scratch.buf.len());
            let got = match identity::read_full_at(
                file,
                &mut self.scratch.buf[..want],
                base - k as u64,
            ) {
                Ok(got) => got,
                Err(e) => {
                    self.read_failed(seq, e);
                    return Ok(false);
                }
            };
            if got >= k && t.behind_matches(&self.scratch.buf[..k]) == Some(false) {
                // Not what was delivered: truncated and written again past
                // the offset since the last look.
                if !self.rewritten(seq) {
                    return Ok(false);
                }
                continue;
            }
            let n = got.saturating_sub(k);
            // The lines of one read were read at one time.
            self.scratch.shared.set_time(SystemTime::now());
            if n == 0 {
                let events = t
                    .observe(&Observation::ShortRead, self.looking.first_cycle)
                    .events();
                self.emit(events);
                return Ok(true);
            }
            let (split, direct) = self.take_lines(seq, k, n, base, cursor.after_cut());
            if split.consumed > 0 {
                // Salvage mark: these lines end in the batch or the direct range.
                let from = (base, cursor.after_cut());
                self.marked(seq, from, direct.as_ref().map_or(0, |r| r.len()));
            }
            if direct.is_some() || self.scratch.batch.len() >= BATCH_BYTES {
                self.write_out(direct)?;
            }
            if split.consumed == 0 {
                if got == self.scratch.buf.len() && n <= max {
                    // A line longer than the buffer but within the maximum: grow
                    // the buffer (up to one maximal line) and read it again.
                    let grown =
                        (self.scratch.buf.len() * 2).min(max + 1 + tracker::BEHIND as usize);
                    self.scratch.buf.resize(grown, 0);
                    continue;
                }
                return Ok(true); // An unfinished line: wait for the rest of it.
            }
            budget = budget.saturating_sub(split.consumed as u64);
        }
    }

    /// Splits the `n` bytes read into `buf[k..]` (from offset `base`) of
    /// file `seq` into lines and encodes them into the batch, or, raw lines
    /// that fill most of the read, leaves them in the buffer to go out as
    /// they are: that range is returned with the split. The file advances
    /// past the lines in the same step.
    fn take_lines(
        &mut self,
        seq: u64,
        k: usize,
        n: usize,
        base: u64,
        after_cut: bool,
    ) -> (lines::Split, Option<Range<usize>>) {
        let max = self.settings.max_line_bytes;
        let t = self.table.files.get_mut(&seq).expect("still tracked");
        // Split first, then encode: raw lines that fill most of a read go
        // out straight from the read buffer, without a copy into the batch.
        let mut spans = std::mem::take(&mut self.scratch.spans);
        spans.clear();
        let data = &self.scratch.buf[k..k + n];
        let split = lines::split(data, base, max, after_cut, |chunk| {
            let (piece, offset, bytes) = match chunk {
                Chunk::Lines { offset, bytes } => (false, offset, bytes),
                Chunk::Piece { offset, bytes } => (true, offset, bytes),
            };
            let start = k + (offset - base) as usize;
            spans.push((piece, start..start + bytes.len()));
        });
        if spans.iter().any(|(piece, _)| *piece) && t.first_long_line() {
            log::warn!(
                "{} has a line longer than {max} bytes; it is delivered in pieces",
                show(t.path())
            );
        }
        let direct = match spans.as_slice() {
            [(false, range)] if t.encoder().is_raw() && range.len() >= DIRECT_BYTES => {
                Some(range.clone())
            }
            _ => None,
        };
        let lines = match &direct {
            Some(range) => {
                memchr::memchr_iter(b'\n', &self.scratch.buf[range.clone()]).count() as u64
            }
            None => spans
                .iter()
                .map(|(piece, range)| {
                    let offset = base + (range.start - k) as u64;
                    let bytes = &self.scratch.buf[range.clone()];
                    let chunk = if *piece {
                        Chunk::Piece { offset, bytes }
                    } else {
                        Chunk::Lines { offset, bytes }
                    };
                    t.encoder()
                        .encode(chunk, &self.scratch.shared, &mut self.scratch.batch)
                })
                .sum(),
        };
        self.scratch.spans = spans;
        self.stats.lines += lines;
        self.stats.delivered(t.path(), lines, split.consumed as u64);
        let events = t.advance(split.consumed as u64, n as u64, split.after_cut);
        if split.consumed > 0 {
            let end = k + split.consumed;
            let from = end - t.offset().min(tracker::BEHIND) as usize;
            t.set_behind(&self.scratch.buf[from..end]);
        }
        self.emit(events);
        (split, direct)
    }

    /// File `seq` did not read as delivered before its offset: a new file
    /// in the old one's place, read from its start. Returns false if that
    /// could not be told (a failed read).
    fn rewritten(&mut self, seq: u64) -> bool {
        let t = self.table.files.get(&seq).expect("still tracked");
        let Some(file) = t.file() else {
            return false;
        };
        match identity::fingerprint(file, t.size()) {
            Ok(fingerprint) => {
                self.rechecked(seq, Change::Grew, HeadCheck::Other(fingerprint));
                true
            }
            Err(e) => {
                self.read_failed(seq, e);
                false
            }
        }
    }

    /// Copies the whole lines at the start of file `seq`'s backlog to the
    /// output in the kernel, after scanning them in a memory map. Returns how
    /// many bytes went out, or None if the ordinary read should do it: too
    /// few whole lines (a long line's pieces), a file that shrank, or an
    /// output that cannot take copies after all.
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        target_pointer_width = "64"
    ))]
    fn copy_lines(&mut self, seq: u64) -> Result<Option<usize>, WriteError> {
        let max = self.settings.max_line_bytes;
        let t = self.table.files.get(&seq).expect("still tracked");
        let Some(file) = t.file() else {
            return Ok(None);
        };
        let (offset, backlog) = (t.offset(), t.size() - t.offset());
        let len = usize::try_from(backlog)
            .unwrap_or(usize::MAX)
            .min(MAP_CHUNK);
        let Ok(window) = crate::mapped::Window::map(file, offset, len) else {
            return Ok(None);
        };
        let end = lines::whole_lines(window.bytes(), max);
        if end < DIRECT_BYTES || window.faulted() {
            return Ok(None);
        }
        self.flush()?; // what came before goes first
        let Some(t) = self.table.files.get(&seq) else {
            return Ok(None);
        };
        let Some(file) = t.file() else {
            return Ok(None);
        };
        // The lines are counted (for the counters only) on another core
        // while the kernel copies them. Should the file shrink meanwhile, the
        // copy comes out short and is undone, and the count is not used.
        let bytes = &window.bytes()[..end];
        let output = &mut self.output;
        let count = || memchr::memchr_iter(b'\n', bytes).count() as u64;
        let (lines, copied) = std::thread::scope(|scope| {
            // Without a thread (none to be had), the count comes after.
            let counting = std::thread::Builder::new().spawn_scoped(scope, count);
            let copied = output.copy_from(file, t.seen_at(), offset, end);
            let lines = match counting {
                Ok(counting) => counting.join().unwrap_or_else(|_| count()),
                Err(_) => count(),
            };
            (lines, copied)
        });
        drop(window);
        if copied.is_err() {
            // Salvage mark: part of these lines may be out before the error.
            self.marked_failed_copy(seq, offset, end);
        }
        if copied? != crate::output::Copied::Done {
            return Ok(None);
        }
        let t = self.table.files.get_mut(&seq).expect("still tracked");
        let events = t.copied(end as u64);
        self.stats.lines += lines;
        self.stats.bytes += end as u64;
        self.stats.delivered(t.path(), lines, end as u64);
        self.emit(events);
        // Salvage mark: these lines were copied out.
        self.marked(seq, (offset, false), 0);
        Ok(Some(end))
    }

    #[cfg(not(all(
        any(target_os = "linux", target_os = "android"),
        target_pointer_width = "64"
    )))]
    fn copy_lines(&mut self, _: u64) -> Result<Option<usize>, WriteError> {
        Ok(None)
    }

    /// Writes out the batch. While the output does not take it (a full pipe,
    /// a stalled FIFO), the loop's housekeeping goes on: a USR1 is answered,
    /// and a rotated or deleted file that was fully delivered and is quiet
    /// is let go, so its disk space is freed whatever the output does.
    pub(super) fn flush(&mut self) -> Result<(), WriteError> {
        self.write_out(None)
    }

    /// Writes out the batch, then `direct`, a range of the read buffer that
    /// goes out as it is.
    fn write_out(&mut self, direct: Option<Range<usize>>) -> Result<(), WriteError> {
        if self.scratch.batch.is_empty() && direct.is_none() {
            return Ok(());
        }
        let (files, stats, dirty, notify) = (
            &mut self.table.files,
            &mut self.stats,
            &mut self.commits.dirty,
            &mut self.notify,
        );
        let (signals, interval) = (self.signals, self.settings.interval);
        // With --once, an output that stops taking data (a command or FIFO
        // reader that no longer reads) is given up on like a failing one.
        let stall_limit = self.settings.once.then_some(self.settings.once_timeout);
        let mut blocked_since: Option<Instant> = None;
        let mut housekeeping = || {
            for t in files.values_mut() {
                if !t.gone_quiet(interval) {
                    continue;
                }
                // A rotated file the writer still adds to is not done.
                let size_now = t.file().and_then(|f| f.metadata().ok()).map(|m| m.len());
                let waiting = Observation::Waiting {
                    size_now,
                    quiet: true,
                };
                emit(t.observe(&waiting, false).events(), stats, dirty);
            }
            notify.keep_alive();
            if signals.take_stats() {
                log::info!(
                    "{} (the output is not taking data)",
                    stats_line(files, stats)
                );
            }
            let since = *blocked_since.get_or_insert_with(Instant::now);
            stall_limit.is_none_or(|limit| since.elapsed() < limit)
        };
        self.output
            .write_all(&self.scratch.batch, &mut housekeeping)?;
        let mut written = self.scratch.batch.len();
        self.scratch.batch.clear();
        if let Some(range) = direct {
            self.output
                .write_all(&self.scratch.buf[range.clone()], &mut housekeeping)?;
            written += range.len();
        }
        self.stats.bytes += written as u64;
        Ok(())
    }

    /// A gone file that stopped growing: deliver its final partial line with a
    /// newline added; it is let go once the checkpoint covering that is saved.
    pub(super) fn finish_gone(&mut self, seq: u64) -> Result<(), WriteError> {
        let max = self.settings.max_line_bytes;
        let t = self.table.files.get_mut(&seq).expect("still tracked");
        if !t.is_open() {
            if let Some(file) = open_verified(t.seen_at(), t.id()) {
                t.attach(file);
            }
        }
        let Some(file) = t.file() else {
            let events = t
                .observe(&Observation::Finished { delivered: 0 }, false)
                .events();
            self.emit(events);
            return Ok(());
        };
        // What is left is an unfinished line, shorter than the longest line
        // allowed when it was read (a reload may have lowered it since).
        let (offset, after_cut) = (t.offset(), t.cursor().after_cut());
        let left = t.size() - offset;
        let rest = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(self.scratch.buf.len().max(max + 1));
        if self.scratch.buf.len() < rest {
            self.scratch.buf.resize(rest, 0);
        }
        let n = match identity::read_full_at(file, &mut self.scratch.buf[..rest], offset) {
            Ok(n) => n,
            Err(e) => {
                log::warn!("cannot read the rest of {}: {e}", show(t.path()));
                let events = t
                    .observe(&Observation::Finished { delivered: 0 }, false)
                    .events();
                self.emit(events);
                return Ok(());
            }
        };
        self.scratch.shared.set_time(SystemTime::now());
        let (encoder, shared, batch) = (t.encoder(), &self.scratch.shared, &mut self.scratch.batch);
        let mut lines = 0;
        let bytes = &self.scratch.buf[..n];
        let split = lines::split(bytes, offset, max, after_cut, |chunk| {
            lines += encoder.encode(chunk, shared, batch);
        });
        let events = if (n as u64) < left {
            // More than one buffer left (the limit was lowered): deliver the
            // pieces now, the rest next cycle.
            self.stats.delivered(t.path(), lines, split.consumed as u64);
            let consumed = split.consumed as u64;
            t.advance(consumed, consumed, split.after_cut)
        } else {
            let tail = &bytes[split.consumed..];
            // A newline right after a cut piece ends that piece's line.
            let skip = usize::from(split.after_cut && tail.first() == Some(&b'\n'));
            lines::final_piece(
                &tail[skip..],
                offset + (split.consumed + skip) as u64,
                |chunk| {
                    lines += encoder.encode(chunk, shared, batch);
                },
            );
            self.stats.delivered(t.path(), lines, n as u64);
            t.observe(
                &Observation::Finished {
                    delivered: n as u64,
                },
                false,
            )
            .events()
        };
        self.stats.lines += lines;
        self.emit(events);
        // Salvage mark: these pieces, or the final line, are in the batch.
        self.marked(seq, (offset, after_cut), 0);
        Ok(())
    }
}
