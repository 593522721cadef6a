//! Steps 3 and 4 of a cycle: read what is new in each active file, oldest
//! first and within a budget per file, split it into lines, encode them into
//! the batch and write the batch out; and let go of files that are done.

use super::*;
use std::ops::Range;

use crate::tracker;

impl Collector<'_> {
    /// Steps 3 and 4: read, split, encode and write every active file.
    /// Returns whether some file still has bytes to read.
    pub(super) fn deliver(&mut self) -> Result<bool, WriteError> {
        let mut backlog = false;
        self.order.clear();
        // A followed file that is closed, unchanged and at its own path has
        // nothing to do this cycle (see the start of `read_file`): most files
        // of an idle host are skipped here.
        self.order.extend(
            self.files
                .iter()
                .filter(|(_, t)| {
                    t.is_active()
                        && (t.file.is_some()
                            || t.state != State::Following
                            || t.size != t.read_pos
                            || t.moved())
                })
                .map(|(&seq, _)| seq),
        );
        let order = std::mem::take(&mut self.order);
        self.open_count = self.files.values().filter(|t| t.file.is_some()).count();
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
        self.order = order;
        self.flush()?;
        Ok(backlog)
    }

    /// Closes a followed file's descriptor after its turn unless it still has
    /// bytes to read or changed within the last two intervals, and the
    /// descriptor budget allows keeping it: idle files then cost a stat and
    /// nothing more, and thousands of files fit in a small descriptor limit.
    /// A gone file keeps its descriptor until it is let go: its path no
    /// longer leads to it.
    pub(super) fn let_go(&mut self, seq: u64, more: bool) {
        let Some(t) = self.files.get_mut(&seq) else {
            return;
        };
        // Lately changed files keep their descriptor only while half the budget
        // is free: files with bytes to read come first.
        let lately = self.open_count < self.max_open / 2
            && t.changed_at
                .is_some_and(|at| at.elapsed() < 2 * self.settings.interval);
        if t.state == State::Following
            && t.file.is_some()
            && (self.open_count > self.max_open || !more && !lately)
        {
            t.file = None;
            self.open_count -= 1;
        }
    }

    /// Whether file `seq` must wait for its predecessor to be read further.
    pub(super) fn waiting(&mut self, seq: u64) -> bool {
        let Some((pseq, mark)) = self.files.get(&seq).and_then(|t| t.waits_for) else {
            return false;
        };
        // A gone predecessor also goes first with its final partial line,
        // delivered once it is quiet. One still followed (seen under its
        // rotated name, `app.log*`) does not: its partial line may never end.
        // Checked anew each cycle: a rolled-back cycle can put the predecessor
        // behind again. Only a predecessor that was let go (which happens
        // once a checkpoint covers it) ends the wait for good.
        let blocked = match self.files.get(&pseq).map(|p| (p.state, p)) {
            Some((State::Following, p)) => p.read_pos < mark,
            Some((State::Gone { .. }, p)) => p.read_pos < mark || (p.offset < mark && !p.finished),
            Some((State::Retired { .. } | State::Missing, _)) | None => {
                if let Some(t) = self.files.get_mut(&seq) {
                    t.waits_for = None;
                }
                false
            }
        };
        blocked
    }

    /// Reads what is new in one file, up to the per-cycle budget.
    pub(super) fn read_file(&mut self, seq: u64) -> Result<bool, WriteError> {
        let max = self.settings.max_line_bytes;
        let Some(t) = self.files.get_mut(&seq) else {
            return Ok(false);
        };
        if t.file.is_none() {
            // Closed since it was drained: opened again only when it changed.
            // A gone file found beside its path is opened here too, within the
            // descriptor budget.
            let gone = matches!(t.state, State::Gone { .. });
            let changed = tracker::classify(t.read_pos, t.size) != Change::Unchanged;
            // A renamed file still matched, quiet, with a partial line to finish.
            let interval = self.settings.interval;
            let quiet =
                self.settings.once || t.changed_at.is_none_or(|at| at.elapsed() >= 2 * interval);
            let renamed_partial = t.moved() && t.offset < t.size && quiet;
            if !(gone || t.state == State::Following && (changed || renamed_partial)) {
                return Ok(false);
            }
            if self.open_count >= self.max_open {
                // Its turn comes once others let go: those still reading keep the
                // loop going, and gone files waiting to be let go should not.
                return Ok(false);
            }
            match identity::open_for_reading(t.seen_at()) {
                Ok(f) if f.metadata().is_ok_and(|m| FileId::of(&m) == t.id) => {
                    t.file = Some(f);
                    self.open_count += 1;
                }
                // Another file at that path now: the next look sorts it out.
                Ok(_) => return Ok(false),
                Err(e) => {
                    let path = t.seen_at().to_path_buf();
                    self.warn_once(&path, format!("cannot open {}: {e}; retrying", show(&path)));
                    return Ok(false);
                }
            }
        }
        let Some(file) = t.file.as_ref() else {
            return Ok(false);
        };
        if let State::Gone { .. } = t.state {
            match file.metadata() {
                Ok(m) if m.len() == t.size => {}
                Ok(m) => {
                    t.size = m.len();
                    t.state = State::Gone {
                        since: Instant::now(),
                    };
                }
                Err(e) => {
                    self.read_failed(seq, e);
                    return Ok(false);
                }
            }
        }
        let change = tracker::classify(t.read_pos, t.size);
        if change != Change::Unchanged {
            t.changed_at = Some(Instant::now());
        }
        // The head is re-checked whenever the size changed: a file truncated and
        // rewritten past the old offset within one interval is a new file.
        let head = (|| -> io::Result<Head> {
            Ok(match change {
                Change::Unchanged => Head::Same,
                Change::Grew => {
                    let quick = t.quick.filter(|(fp, _)| *fp == t.fingerprint);
                    match identity::recheck_quick(file, t.size, t.fingerprint, quick.map(|q| q.1))?
                    {
                        Some((fp, q)) => {
                            t.quick = Some((fp, q));
                            Head::Extended(fp)
                        }
                        None => Head::New(identity::fingerprint(file, t.size)?),
                    }
                }
                Change::Truncated => match identity::recheck(file, t.size, t.fingerprint)? {
                    // Shorter but with the same head: an NFS client can report a
                    // stale size for a moment. Twice in a row is a truncation.
                    Some(_) if !t.shrink_seen => Head::Shrunk,
                    _ => Head::New(identity::fingerprint(file, t.size)?),
                },
            })
        })();
        t.shrink_seen = matches!(head, Ok(Head::Shrunk));
        match head {
            Ok(Head::Same) => {}
            Ok(Head::Shrunk) => {
                log::debug!(
                    "{} looks shorter than what was read; looking again",
                    show(&t.path)
                );
                return Ok(false);
            }
            Ok(Head::Extended(fp)) => {
                if fp != t.fingerprint {
                    self.dirty = true;
                }
                t.fingerprint = fp;
            }
            Ok(Head::New(fp)) => {
                t.before_truncation = Some(t.fingerprint);
                if change == Change::Truncated {
                    log::warn!(
                        "{} was truncated (size {} < offset {}); reading it again from the start",
                        show(&t.path),
                        t.size,
                        t.read_pos
                    );
                } else {
                    log::warn!(
                        "{} has new content at its start (truncated and rewritten); reading it again from the start",
                        show(&t.path)
                    );
                }
                self.stats.truncations += 1;
                t.restart(fp);
                self.dirty = true;
            }
            Err(e) => {
                self.read_failed(seq, e);
                return Ok(false);
            }
        }
        if t.file.is_none() {
            return Ok(false);
        }

        let mut budget = FILE_BUDGET;
        let mut try_copy = self.output.can_copy();
        loop {
            // Looked up again each round: the batch is written out between
            // rounds, and while the output blocks, other files are tended to.
            let t = self.files.get_mut(&seq).expect("still tracked");
            if t.file.is_none() || t.read_pos >= t.size || budget == 0 {
                break;
            }
            // A raw backlog into a regular file is copied in the kernel,
            // a window of whole lines at a time.
            if try_copy && t.encoder.is_raw() && !t.after_cut && t.size - t.offset >= COPY_MIN {
                match self.copy_lines(seq)? {
                    Some(n) => {
                        budget = budget.saturating_sub(n as u64);
                        continue;
                    }
                    None => try_copy = false,
                }
            }
            let t = self.files.get_mut(&seq).expect("still tracked");
            let Some(file) = t.file.as_ref() else { break };
            let want = usize::try_from(t.size - t.offset)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            let n = match identity::read_full_at(file, &mut self.buf[..want], t.offset) {
                Ok(n) => n,
                Err(e) => {
                    self.read_failed(seq, e);
                    return Ok(false);
                }
            };
            if n == 0 {
                // Less there than the size said: shrunk since the stat (the next
                // look sees a truncation), or a file whose size is not its
                // content (sysfs, some FUSE files). Either way nothing is due.
                t.size = t.read_pos;
                break;
            }
            // Split first, then encode: raw lines that fill most of a read go
            // out straight from the read buffer, without a copy into the batch.
            let base = t.offset;
            let mut spans = std::mem::take(&mut self.spans);
            spans.clear();
            let split = lines::split(&self.buf[..n], base, max, t.after_cut, |chunk| {
                let (piece, offset, bytes) = match chunk {
                    Chunk::Lines { offset, bytes } => (false, offset, bytes),
                    Chunk::Piece { offset, bytes } => (true, offset, bytes),
                };
                let start = (offset - base) as usize;
                spans.push((piece, start..start + bytes.len()));
            });
            if spans.iter().any(|(piece, _)| *piece) && !t.long_line_warned {
                t.long_line_warned = true;
                log::warn!(
                    "{} has a line longer than {max} bytes; it is delivered in pieces",
                    show(&t.path)
                );
            }
            let direct = match spans.as_slice() {
                [(false, range)] if t.encoder.is_raw() && range.len() >= DIRECT_BYTES => {
                    Some(range.clone())
                }
                _ => None,
            };
            let lines = match &direct {
                Some(range) => memchr::memchr_iter(b'\n', &self.buf[range.clone()]).count() as u64,
                None => spans
                    .iter()
                    .map(|(piece, range)| {
                        let (offset, bytes) = (base + range.start as u64, &self.buf[range.clone()]);
                        let chunk = if *piece {
                            Chunk::Piece { offset, bytes }
                        } else {
                            Chunk::Lines { offset, bytes }
                        };
                        t.encoder.encode(chunk, &mut self.batch)
                    })
                    .sum(),
            };
            self.spans = spans;
            self.stats.lines += lines;
            self.stats.delivered(&t.path, lines, split.consumed as u64);
            let from = (t.offset, t.after_cut);
            t.offset += split.consumed as u64;
            t.after_cut = split.after_cut;
            t.read_pos = t.offset + (n - split.consumed) as u64;
            if split.consumed > 0 {
                self.dirty = true;
                // Salvage mark: these lines end in the batch or the direct range.
                self.marked(seq, from, direct.as_ref().map_or(0, |r| r.len()));
            }
            if direct.is_some() || self.batch.len() >= BATCH_BYTES {
                self.write_out(direct)?;
            }
            if split.consumed == 0 {
                if n == self.buf.len() && self.buf.len() <= max {
                    // A line longer than the buffer but within the maximum: grow
                    // the buffer (up to one maximal line) and read it again.
                    let grown = (self.buf.len() * 2).min(max + 1);
                    self.buf.resize(grown, 0);
                    continue;
                }
                break; // An unfinished line: wait for the rest of it.
            }
            budget = budget.saturating_sub(split.consumed as u64);
        }
        let t = self.files.get_mut(&seq).expect("still tracked");
        // A rotated file quiet for two intervals is done: the writer has moved
        // on, and its final partial line goes out. With --once there is no
        // later look, and a rotated file is not written to any more by the
        // time a run finds it. A file renamed but still matched (`app.log*`)
        // gets the same for its partial line, and is followed on if it grows.
        let interval = self.settings.interval;
        let once = self.settings.once;
        let quiet = |at: Option<Instant>| once || at.is_none_or(|at| at.elapsed() >= 2 * interval);
        let done = match t.state {
            State::Gone { since } => quiet(Some(since)),
            State::Following => t.moved() && t.offset < t.size && quiet(t.changed_at),
            _ => false,
        };
        if done && t.read_pos == t.size && !t.finished {
            self.finish_gone(seq)?;
        }
        let t = self.files.get(&seq).expect("still tracked");
        Ok(t.read_pos < t.size)
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
        let t = self.files.get(&seq).expect("still tracked");
        let Some(file) = t.file.as_ref() else {
            return Ok(None);
        };
        let (offset, backlog) = (t.offset, t.size - t.offset);
        let len = usize::try_from(backlog)
            .unwrap_or(usize::MAX)
            .min(MAP_CHUNK);
        let Ok(window) = crate::mapped::Window::map(file, offset, len) else {
            return Ok(None);
        };
        let end = lines::whole_lines(window.bytes(), max);
        if end < DIRECT_BYTES {
            return Ok(None);
        }
        let lines = memchr::memchr_iter(b'\n', &window.bytes()[..end]).count() as u64;
        if window.faulted() {
            return Ok(None);
        }
        drop(window);
        self.flush()?; // what came before goes first
        let Some(file) = self.files.get(&seq).and_then(|t| t.file.as_ref()) else {
            return Ok(None);
        };
        let copied = self.output.copy_from(file, offset, end);
        if copied.is_err() {
            // Salvage mark: part of these lines may be out before the error.
            self.marked_failed_copy(seq, offset, end);
        }
        if copied? != crate::output::Copied::Done {
            return Ok(None);
        }
        let t = self.files.get_mut(&seq).expect("still tracked");
        t.offset += end as u64;
        t.read_pos = t.read_pos.max(t.offset);
        t.changed_at = Some(Instant::now());
        self.stats.lines += lines;
        self.stats.bytes += end as u64;
        self.stats.delivered(&t.path, lines, end as u64);
        self.dirty = true;
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
        if self.batch.is_empty() && direct.is_none() {
            return Ok(());
        }
        let (files, stats, dirty, notify) = (
            &mut self.files,
            &mut self.stats,
            &mut self.dirty,
            &mut self.notify,
        );
        let (signals, interval) = (self.signals, self.settings.interval);
        let mut housekeeping = || {
            for t in files.values_mut() {
                if let State::Gone { since } = t.state {
                    // A rotated file the writer still adds to is not done.
                    let now_size = t
                        .file
                        .as_ref()
                        .and_then(|f| f.metadata().ok())
                        .map(|m| m.len());
                    if now_size.is_some_and(|size| size != t.size) {
                        continue;
                    }
                    let delivered = t.committed.0 == t.size && t.offset == t.size;
                    if delivered && since.elapsed() >= 2 * interval && !t.finished {
                        log::debug!(
                            "{} fully delivered; closed while the output waits",
                            show(&t.path)
                        );
                        t.file = None;
                        t.state = State::Retired { at: unix_now() };
                        *dirty = true;
                    }
                }
            }
            notify.keep_alive();
            if signals.take_stats() {
                log::info!(
                    "{} (the output is not taking data)",
                    stats_line(files, stats)
                );
            }
        };
        self.output.write_all(&self.batch, &mut housekeeping)?;
        let mut written = self.batch.len();
        self.batch.clear();
        if let Some(range) = direct {
            self.output
                .write_all(&self.buf[range.clone()], &mut housekeeping)?;
            written += range.len();
        }
        self.stats.bytes += written as u64;
        Ok(())
    }

    /// A gone file that stopped growing: deliver its final partial line with a
    /// newline added; it is let go once the checkpoint covering that is saved.
    pub(super) fn finish_gone(&mut self, seq: u64) -> Result<(), WriteError> {
        let max = self.settings.max_line_bytes;
        let t = self.files.get_mut(&seq).expect("still tracked");
        let from = (t.offset, t.after_cut);
        if t.file.is_none() {
            t.file = open_verified(t.seen_at(), t.id);
        }
        if let Some(file) = t.file.as_ref() {
            // What is left is an unfinished line, shorter than the longest line
            // allowed when it was read (a reload may have lowered it since).
            let rest = usize::try_from(t.size - t.offset)
                .unwrap_or(usize::MAX)
                .min(self.buf.len().max(max + 1));
            if self.buf.len() < rest {
                self.buf.resize(rest, 0);
            }
            match identity::read_full_at(file, &mut self.buf[..rest], t.offset) {
                Ok(n) => {
                    let lines_before = self.stats.lines;
                    let (encoder, batch, lines) =
                        (&t.encoder, &mut self.batch, &mut self.stats.lines);
                    let bytes = &self.buf[..n];
                    let split = lines::split(bytes, t.offset, max, t.after_cut, |chunk| {
                        *lines += encoder.encode(chunk, batch);
                    });
                    if (n as u64) < t.size - t.offset {
                        // More than one buffer left (the limit was lowered): deliver
                        // the pieces now, the rest next cycle.
                        let added = self.stats.lines - lines_before;
                        self.stats.delivered(&t.path, added, split.consumed as u64);
                        t.offset += split.consumed as u64;
                        t.after_cut = split.after_cut;
                        t.read_pos = t.offset;
                        self.dirty = true;
                        // Salvage mark: these pieces are in the batch.
                        self.marked(seq, from, 0);
                        return Ok(());
                    }
                    let tail = &bytes[split.consumed..];
                    // A newline right after a cut piece ends that piece's line.
                    let skip = usize::from(split.after_cut && tail.first() == Some(&b'\n'));
                    lines::final_piece(
                        &tail[skip..],
                        t.offset + (split.consumed + skip) as u64,
                        |chunk| {
                            *lines += encoder.encode(chunk, batch);
                        },
                    );
                    let added = self.stats.lines - lines_before;
                    self.stats.delivered(&t.path, added, n as u64);
                    t.offset += n as u64;
                    t.read_pos = t.offset;
                    t.after_cut = false;
                }
                Err(e) => log::warn!("cannot read the rest of {}: {e}", show(&t.path)),
            }
        }
        t.finished = true;
        self.dirty = true;
        // Salvage mark: the final line is in the batch.
        self.marked(seq, from, 0);
        Ok(())
    }
}
