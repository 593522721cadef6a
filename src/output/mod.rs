//! Where lines go: stdout, a regular file (appended, created 0640), a FIFO or
//! a command's stdin. The output writes whole batches, syncs, tells the
//! file's identity and length for the checkpoint, and recovers from the
//! failures a retry can fix. It knows nothing about which log files are
//! followed.

mod command;
mod copy;
mod tail;

pub use command::{end_group_now, set_child_fd_limit};
pub use copy::Copied;
pub use tail::{TailRecord, Verdict};

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::checkpoint::OutputMark;
use crate::error::{show, Error, IoContext};
use crate::identity::FileId;
use crate::settings::OutputSpec;

/// A failed write, by what the collector should do about it.
#[derive(Debug)]
pub enum WriteError {
    /// The output is gone for good (stdout closed): stop with this error.
    Gone(Error),
    /// Worth retrying (disk full, FIFO reader gone, command exited): undo the
    /// cycle but for what `delivered_since` says arrived, call `recover`, and
    /// send the rest again.
    Retry(io::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stdout,
    File,
    Fifo,
    /// A character device such as /dev/null or a terminal.
    Device,
    Command,
}

/// How far the output has been written: to which destination (each open,
/// reopen or command start is a new one) and how many bytes it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    opened: u64,
    bytes: u64,
}

impl Position {
    /// Bytes taken between `earlier` and here, if both are on one destination.
    pub fn since(self, earlier: Position) -> Option<u64> {
        (self.opened == earlier.opened).then(|| self.bytes.saturating_sub(earlier.bytes))
    }
}

/// Numbers the destinations an output writes to.
fn next_opened() -> u64 {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    OPENED.fetch_add(1, Ordering::Relaxed)
}

/// Batches at least this large start out to disk at once (`write_behind`).
const WRITE_BEHIND_MIN: usize = 1 << 20;

/// The open output.
#[derive(Debug)]
pub struct Output {
    kind: Kind,
    path: Option<PathBuf>,
    file: File,
    /// Whether fsync means anything here (a regular file, also behind stdout).
    syncable: bool,
    /// For `|COMMAND`: the command line and the running child.
    command: Option<(String, Child)>,
    /// Written to since the last sync.
    unsynced: bool,
    /// A FIFO without a reader, already said so.
    waiting: bool,
    /// Where `copy_file_range` can write, for a regular file.
    copy: Option<copy::Target>,
    /// Which destination this is, and the bytes it took (see `Position`).
    opened: u64,
    written: u64,
    /// The last fsync failed: what was written since is not known to be on disk.
    sync_failed: bool,
    /// For a file output: what was written past the last checkpoint.
    tail: Option<TailRecord>,
    /// Start writing copied bytes to disk at once (they are synced at the
    /// cycle's end): the disk then works while the next ones are copied.
    write_behind: bool,
    /// With `--once`: how long a write may wait on a pipe or FIFO that takes
    /// nothing before it gives up (see `give_up_after`).
    stall_limit: Option<Duration>,
    /// With `--once`, while the output takes nothing: when the run gives up
    /// on it (see `give_up_at`).
    deadline: Option<Instant>,
    /// For `|COMMAND`: the first command of this output that exited on its
    /// own with a status other than 0 and was started again, said as
    /// "output command `...` exited with status N".
    failed: Option<String>,
}

impl Output {
    /// Opens the output. A FIFO without a reader is waited for, checking
    /// `stop` so that a shutdown request is not held up.
    pub fn open(spec: &OutputSpec, stop: &dyn Fn() -> bool) -> Result<Output, Error> {
        match spec {
            OutputSpec::Stdout => {
                // A duplicate of fd 1, so it can be written and synced as a File
                // without taking std's line-buffered stdout lock.
                let file = File::from(
                    io::stdout()
                        .as_fd()
                        .try_clone_to_owned()
                        .context(|| "cannot use stdout".into())?,
                );
                let meta = file.metadata().ok();
                let syncable = meta.as_ref().is_some_and(|m| m.is_file());
                // stdout stays blocking: its open file description is shared
                // with whoever else writes to the same pipe or terminal.
                let target = copy::for_stdout(&file);
                let mut out = Output::plain(Kind::Stdout, None, file, syncable);
                out.copy = target;
                Ok(out)
            }
            OutputSpec::Path(path) => open_path(path, stop),
            OutputSpec::Command(line) => {
                let (file, child) = command::spawn(line)
                    .context(|| format!("cannot start output command `{line}`"))?;
                set_nonblocking(&file);
                Ok(Output {
                    kind: Kind::Command,
                    path: None,
                    file,
                    syncable: false,
                    command: Some((line.clone(), child)),
                    unsynced: false,
                    waiting: false,
                    copy: None,
                    opened: next_opened(),
                    written: 0,
                    sync_failed: false,
                    tail: None,
                    write_behind: false,
                    stall_limit: None,
                    deadline: None,
                    failed: None,
                })
            }
        }
    }

    /// An output that is one descriptor (not a command).
    fn plain(kind: Kind, path: Option<PathBuf>, file: File, syncable: bool) -> Output {
        Output {
            kind,
            path,
            file,
            syncable,
            command: None,
            unsynced: false,
            waiting: false,
            copy: None,
            opened: next_opened(),
            written: 0,
            sync_failed: false,
            tail: None,
            write_behind: false,
            stall_limit: None,
            deadline: None,
            failed: None,
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        if let Some((line, _)) = &self.command {
            return format!("output command `{line}`");
        }
        match (&self.path, self.kind) {
            (Some(p), Kind::Fifo) => format!("FIFO {}", show(p)),
            (Some(p), Kind::Device) => format!("device {}", show(p)),
            (Some(p), _) => format!("output file {}", show(p)),
            (None, _) => "stdout".into(),
        }
    }

    /// Writes the whole batch; a FIFO or a command's pipe in pieces of whole
    /// lines (see `pipe_piece`). A pipe or FIFO is written without blocking:
    /// while it is full, `while_blocked` runs at once and then every 100 ms
    /// so the caller's housekeeping goes on (a stop is handled by the stop
    /// clock); when it answers false, or when the write has waited for the
    /// `give_up_after` limit (counted from when it first found the pipe
    /// full, and checked inside the waits), the write gives up with a
    /// `TimedOut` error to retry.
    pub fn write_all(
        &mut self,
        batch: &[u8],
        while_blocked: &mut dyn FnMut() -> bool,
    ) -> Result<(), WriteError> {
        self.unsynced = true;
        if let Some(tail) = &mut self.tail {
            tail.before_write(&self.file, batch);
        }
        let whole_lines = matches!(self.kind, Kind::Fifo | Kind::Command);
        let mut rest = batch;
        // Set when the write first finds the pipe full: when it gives up.
        let mut blocked: Option<Option<Instant>> = None;
        while !rest.is_empty() {
            let piece = if whole_lines { pipe_piece(rest) } else { rest };
            match self.file.write(piece) {
                Ok(0) => return Err(self.classify(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    self.written += n as u64;
                    rest = &rest[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let limit = self.stall_limit;
                    let give_up_at =
                        *blocked.get_or_insert_with(|| limit.map(|l| Instant::now() + l));
                    let go_on = while_blocked();
                    let left = give_up_at.map(|at| at.saturating_duration_since(Instant::now()));
                    if !go_on || left.is_some_and(|l| l.is_zero()) {
                        return Err(WriteError::Retry(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "it stopped taking what it was sent",
                        )));
                    }
                    // Never past the moment to give up: rounded up, so
                    // that the last wait does not spin.
                    let ms = left.map_or(100, |l| l.as_micros().div_ceil(1000).min(100));
                    wait_writable(&self.file, ms as i32);
                }
                Err(e) => return Err(self.classify(e)),
            }
        }
        // Only a backlog's large batches: a small one is synced next anyway.
        if self.write_behind && batch.len() >= WRITE_BEHIND_MIN {
            copy::start_writeback(&self.file);
        }
        if let Some(tail) = &mut self.tail {
            tail.wrote();
        }
        Ok(())
    }

    /// Whether `copy_from` may work: a regular file output, on Linux.
    pub fn can_copy(&self) -> bool {
        self.copy.is_some()
    }

    /// Copies `len` bytes of `src` from `offset` to the output in the
    /// kernel. After `Unsupported` no copy is tried again.
    /// `path` is where `src` is (recorded for the start-up tail check).
    pub fn copy_from(
        &mut self,
        src: &File,
        path: &Path,
        offset: u64,
        len: usize,
    ) -> Result<Copied, WriteError> {
        let Some(target) = &self.copy else {
            return Ok(Copied::Unsupported);
        };
        self.unsynced = true;
        if let Some(tail) = &mut self.tail {
            tail.before_copy(&self.file, src, path, offset, len);
        }
        let copied = copy::copy(target, src, offset, len);
        if let Some(tail) = &mut self.tail {
            match copied {
                Ok(Copied::Done) => tail.wrote(),
                Ok(_) => tail.undone(),
                Err(_) => {}
            }
        }
        match copied {
            Ok(Copied::Unsupported) => {
                log::debug!(
                    "{} cannot take in-kernel copies; writing instead",
                    self.describe()
                );
                self.copy = None;
                Ok(Copied::Unsupported)
            }
            Ok(Copied::Done) => {
                self.written += len as u64;
                if self.write_behind {
                    copy::start_writeback(&self.file);
                }
                Ok(Copied::Done)
            }
            Ok(other) => Ok(other),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Makes what was written durable and says whether it may be confirmed
    /// by a checkpoint. Files are fsynced (pipes, FIFOs and terminals have
    /// nothing to sync). A command confirms only what it has read from its
    /// pipe: this waits up to `wait` for the pipe to drain, and answers false
    /// if it did not; a command that exited is an error to retry, since what
    /// it was sent since the last checkpoint may not have been handled.
    /// With `fsync` false (`--no-fsync`), or when nothing was written since
    /// the last call, no fsync is made.
    pub fn sync(&mut self, fsync: bool, wait: Duration) -> Result<bool, WriteError> {
        if let Some((_, child)) = &mut self.command {
            return command::taken(&self.file, child, wait).map_err(WriteError::Retry);
        }
        if self.unsynced && fsync && self.syncable {
            self.sync_failed = true;
            self.file.sync_data().map_err(|e| self.classify(e))?;
            self.sync_failed = false;
        }
        self.unsynced = false;
        Ok(true)
    }

    /// Where the output stands now, to tell later how much it took since.
    pub fn position(&self) -> Position {
        Position {
            opened: self.opened,
            bytes: self.written,
        }
    }

    /// Whether `delivered_since` can ever be more than nothing.
    pub fn tells_delivery(&self) -> bool {
        matches!(self.kind, Kind::Command | Kind::File)
    }

    /// After a `Retry` error: how many of the bytes written since `since`
    /// surely reached their destination, so that the lines they hold need
    /// not be sent again. A command: what it read from its pipe (written
    /// less what is still in the pipe; called once it exited or closed its
    /// end, that is all it will ever read). A file: what it grew by beyond
    /// `committed`, its checkpointed length (a failed copy's part included),
    /// unless the last fsync failed.
    /// A FIFO or a device: nothing, its reader's share cannot be known.
    pub fn delivered_since(&self, since: Position, committed: Option<u64>) -> u64 {
        let Some(sent) = self.position().since(since) else {
            return 0;
        };
        match self.kind {
            Kind::Command => {
                command::unread(&self.file).map_or(0, |unread| sent.saturating_sub(unread as u64))
            }
            Kind::File if !self.sync_failed => match (committed, self.file.metadata()) {
                (Some(committed), Ok(meta)) => meta.len().saturating_sub(committed),
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Before a checkpoint covers part of what a failed file output took:
    /// cuts it back to `length`, after the last whole line kept, and makes
    /// that durable (unless `fsync` is false). Other outputs have nothing to do.
    pub fn keep(&mut self, length: Option<u64>, fsync: bool) -> io::Result<()> {
        let Some(length) = length.filter(|_| self.kind == Kind::File) else {
            return Ok(());
        };
        self.cut_back(length)?;
        if fsync {
            self.sync_failed = true;
            self.file.sync_data()?;
            self.sync_failed = false;
        }
        Ok(())
    }

    fn classify(&self, e: io::Error) -> WriteError {
        match (self.kind, e.kind()) {
            (Kind::Stdout, io::ErrorKind::BrokenPipe) => WriteError::Gone(Error::OutputGone {
                what: "stdout".into(),
                source: e,
            }),
            (Kind::Stdout, _) => WriteError::Gone(Error::Io {
                context: "cannot write to stdout".into(),
                source: e,
            }),
            _ => WriteError::Retry(e),
        }
    }

    /// For a file output: which file it is and how long it is now.
    pub fn mark(&self) -> io::Result<Option<OutputMark>> {
        if self.kind != Kind::File {
            return Ok(None);
        }
        let meta = self.file.metadata()?;
        Ok(Some(OutputMark {
            id: FileId::of(&meta),
            length: meta.len(),
        }))
    }

    /// Cuts a file output back to `length`: bytes past it were never confirmed
    /// by a checkpoint and are about to be written again.
    pub fn cut_back(&mut self, length: u64) -> io::Result<()> {
        if self.kind == Kind::File {
            self.file.set_len(length)?;
            if let Some(tail) = &mut self.tail {
                tail.cut(length);
            }
        }
        Ok(())
    }

    /// For a file output `now` bytes long whose checkpoint says `committed`:
    /// what the bytes past `committed` are, by the record of the last run.
    pub fn judge_tail(&self, tail: &TailRecord, committed: u64, now: u64) -> Verdict {
        // The output is open for appending only: read it through another
        // descriptor, on the same file.
        let reader = self.path.as_ref().and_then(|p| File::open(p).ok());
        match (self.mark(), reader) {
            (Ok(Some(mark)), Some(reader))
                if reader.metadata().is_ok_and(|m| FileId::of(&m) == mark.id) =>
            {
                tail.judge(&reader, mark.id, committed, now)
            }
            _ => Verdict::Unknown,
        }
    }

    /// For a file output: takes `tail`, the record of what is written past
    /// the checkpoint, and starts it at `mark` (made durable with `fsync`).
    /// With `fsync`, copied bytes start out to disk as soon as they are
    /// copied (see `write_behind`).
    pub fn set_write_behind(&mut self, fsync: bool) {
        self.write_behind = fsync && self.syncable;
    }

    pub fn keep_tail(&mut self, mut tail: TailRecord, mark: OutputMark, fsync: bool) {
        if self.kind == Kind::File {
            tail.committed(mark.id, mark.length, fsync);
            self.tail = Some(tail);
        }
    }

    /// With `--once` (`Some(--once-timeout)`): a write that the pipe or FIFO
    /// takes nothing of for this long gives up (see `write_all`).
    pub fn give_up_after(&mut self, limit: Option<Duration>) {
        self.stall_limit = limit;
    }

    /// With `--once`, while the output takes nothing: the moment the run
    /// gives up on it. A command started again gives the old one no longer
    /// than that to finish.
    pub fn give_up_at(&mut self, at: Option<Instant>) {
        self.deadline = at;
    }

    /// For `|COMMAND`: the first command of this output that exited on its
    /// own with a status other than 0 before it was started again, as
    /// "output command `...` exited with status N".
    pub fn command_failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// A checkpoint recorded `mark`: nothing written before it is unconfirmed.
    pub fn committed(&mut self, mark: Option<OutputMark>) {
        if let (Some(tail), Some(mark)) = (&mut self.tail, mark) {
            tail.committed(mark.id, mark.length, false);
        }
    }

    /// A clean stop with everything confirmed: a restart finds nothing of
    /// this collector's past the checkpoint.
    pub fn stopped_clean(&mut self, fsync: bool) {
        if let Some(tail) = &mut self.tail {
            tail.clean(fsync);
        }
    }

    /// After a `Retry` error: a file is cut back to `committed`; a FIFO waits
    /// for a new reader; a command is started again (the caller backs off
    /// between attempts).
    pub fn recover(
        &mut self,
        committed: Option<u64>,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), Error> {
        match self.kind {
            Kind::File => {
                if let Some(length) = committed {
                    self.cut_back(length)
                        .context(|| format!("cannot cut back {}", self.describe()))?;
                }
                Ok(())
            }
            // Without a reader yet, the broken FIFO stays: the next write fails
            // again and the loop comes back here after its backoff, answering
            // signals and the watchdog meanwhile.
            Kind::Fifo => {
                let path = self.path.clone().expect("a FIFO has a path");
                match open_fifo_once(&path)? {
                    Some(file) => {
                        log::info!("FIFO {} has a reader", show(&path));
                        let (limit, deadline) = (self.stall_limit, self.deadline);
                        *self = Output::plain(Kind::Fifo, Some(path), file, false);
                        (self.stall_limit, self.deadline) = (limit, deadline);
                    }
                    None if !self.waiting => {
                        log::info!("waiting for a reader on FIFO {}", show(&path));
                        self.waiting = true;
                    }
                    None => {}
                }
                let _ = stop;
                Ok(())
            }
            Kind::Device => self.reopen(stop).map(|_| ()),
            // Once stopping began, a command is never started again: the
            // new one would outlive the collector.
            Kind::Command if stop() => Ok(()),
            Kind::Command => self.restart_command(),
            Kind::Stdout => Ok(()),
        }
    }

    fn restart_command(&mut self) -> Result<(), Error> {
        let Some((line, child)) = &mut self.command else {
            return Ok(());
        };
        let (file, fresh) =
            command::spawn(line).context(|| format!("cannot start output command `{line}`"))?;
        set_nonblocking(&file);
        // Dropping the old pipe gives a command that still runs its EOF.
        drop(std::mem::replace(&mut self.file, file));
        (self.opened, self.written) = (next_opened(), 0);
        let mut old = std::mem::replace(child, fresh);
        let grace = self.deadline.map_or(command::FINISH_GRACE, |at| {
            command::FINISH_GRACE.min(at.saturating_duration_since(Instant::now()))
        });
        let finished = command::finish(&mut old, grace);
        if let Some(status) = finished.status {
            log::warn!(
                "output command `{line}` {}; started it again",
                command::describe_status(status)
            );
        }
        // Only its own status counts, not the signal that ended it here.
        if finished.in_time && self.failed.is_none() {
            self.failed = finished
                .failure()
                .map(|how| format!("output command `{line}` {how}"));
        }
        Ok(())
    }

    /// Shutdown: a command gets EOF on its stdin and a moment to finish
    /// (none when `hurry`: the run gave up on it). Says how it ended when
    /// that is a failure, as "output command `...` exited with status N"
    /// (or was killed by a signal, also when it did not exit in time);
    /// the caller logs or reports it.
    pub fn close(self, hurry: bool) -> Option<String> {
        let Output { command, file, .. } = self;
        let (line, mut child) = command?;
        drop(file);
        let grace = if hurry {
            Duration::ZERO
        } else {
            command::FINISH_GRACE
        };
        command::finish(&mut child, grace)
            .failure()
            .map(|how| format!("output command `{line}` {how}"))
    }

    /// Opens the output path again (SIGHUP, after the output file was
    /// rotated). Returns false when the path still leads to the file held.
    pub fn reopen(&mut self, stop: &dyn Fn() -> bool) -> Result<bool, Error> {
        if let Some(path) = self.path.clone() {
            // Still the file we hold (and lock): nothing to reopen. Opening
            // it again would find our own lock taken.
            if self.kind == Kind::File {
                let same = match (std::fs::metadata(&path), self.file.metadata()) {
                    (Ok(at_path), Ok(held)) => FileId::of(&at_path) == FileId::of(&held),
                    _ => false,
                };
                if same {
                    return Ok(false);
                }
            }
            let fresh = open_path(&path, stop)?;
            let tail = self.tail.take();
            let (limit, deadline) = (self.stall_limit, self.deadline);
            *self = fresh;
            self.tail = tail.filter(|_| self.kind == Kind::File);
            (self.stall_limit, self.deadline) = (limit, deadline);
        }
        Ok(true)
    }
}

/// The next write to a FIFO or a command's pipe: whole lines, at most
/// `PIPE_BUF` bytes. Such a write is all or nothing, so the pipe never holds
/// part of a line when the collector dies or abandons a write at shutdown:
/// its reader, which then gets end-of-file, would take that part for a line
/// (kcat sends it as a message). A line longer than `PIPE_BUF` goes at once
/// to its end; only such a line can still be cut.
fn pipe_piece(rest: &[u8]) -> &[u8] {
    let head = &rest[..rest.len().min(libc::PIPE_BUF)];
    let end = match memchr::memrchr(b'\n', head) {
        Some(i) => i + 1,
        None => memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1),
    };
    &rest[..end]
}

/// Waits up to `ms` milliseconds for `file` to take more bytes.
fn wait_writable(file: &File, ms: i32) {
    let mut fds = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll on one pollfd we own, for a bounded time.
    unsafe { libc::poll(&mut fds, 1, ms) };
}

/// Puts a pipe or FIFO we write to in non-blocking mode (see `write_all`).
fn set_nonblocking(file: &File) {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

fn open_path(path: &Path, stop: &dyn Fn() -> bool) -> Result<Output, Error> {
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|m| m.file_type().is_fifo()) {
        return open_fifo(path, stop);
    }
    if existing
        .as_ref()
        .is_some_and(|m| m.file_type().is_char_device())
    {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .context(|| format!("cannot open output device {}", show(path)))?;
        return Ok(Output::plain(
            Kind::Device,
            Some(path.to_path_buf()),
            file,
            false,
        ));
    }
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .context(|| format!("cannot open output file {}", show(path)))?;
    let meta = file
        .metadata()
        .context(|| format!("cannot stat output file {}", show(path)))?;
    if existing.is_none() {
        // Created just now: 0640 exactly, whatever the umask.
        file.set_permissions(std::fs::Permissions::from_mode(0o640))
            .context(|| format!("cannot set the mode of output file {}", show(path)))?;
    }
    if !meta.is_file() {
        return Err(Error::usage(format!(
            "invalid value '{}' for --output: not a regular file or FIFO",
            show(path)
        )));
    }
    lock_output(path, &file)?;
    let target = copy::for_file(path, &file);
    let mut out = Output::plain(Kind::File, Some(path.to_path_buf()), file, true);
    out.copy = target;
    Ok(out)
}

/// Takes the output file's lock for as long as `file` is open: a file output
/// belongs to one collector, and a second one on it would interleave its
/// lines with ours and could not tell our unconfirmed tail from its own.
fn lock_output(path: &Path, file: &File) -> Result<(), Error> {
    match crate::identity::try_lock(file) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::OutputLocked { output: show(path) }),
        Err(e) => {
            // A filesystem without locks: the collector still works, unguarded.
            log::warn!(
                "cannot lock output file {}: {e}; make sure no other collector writes to it",
                show(path)
            );
            Ok(())
        }
    }
}

/// Opens a FIFO for writing without blocking: with no reader the open fails
/// with ENXIO, and we try again until one comes or a stop is requested.
fn open_fifo(path: &Path, stop: &dyn Fn() -> bool) -> Result<Output, Error> {
    let mut told = false;
    loop {
        if let Some(file) = open_fifo_once(path)? {
            if told {
                log::info!("FIFO {} has a reader", show(path));
            }
            return Ok(Output::plain(
                Kind::Fifo,
                Some(path.to_path_buf()),
                file,
                false,
            ));
        }
        if !told {
            log::info!("waiting for a reader on FIFO {}", show(path));
            told = true;
        }
        if stop() {
            return Err(Error::OutputGone {
                what: format!("FIFO {}", show(path)),
                source: io::Error::other("no reader before shutdown"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One try at opening a FIFO for writing: `None` while it has no reader.
/// The descriptor stays non-blocking: a full FIFO is waited on in
/// `write_all`, which is backpressure, not dropped lines.
fn open_fifo_once(path: &Path) -> Result<Option<File>, Error> {
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
        Err(e) => Err(Error::Io {
            context: format!("cannot open FIFO {}", show(path)),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_pieces_are_whole_lines_of_at_most_pipe_buf_bytes() {
        let line = |n: usize| {
            let mut l = vec![b'x'; n - 1];
            l.push(b'\n');
            l
        };
        let max = libc::PIPE_BUF;
        // Lines that fit: as many as PIPE_BUF holds, exactly PIPE_BUF too.
        let small = [line(10), line(20), line(max)].concat();
        assert_eq!(pipe_piece(&small).len(), 30);
        assert_eq!(pipe_piece(&small[30..]).len(), max);
        let many = line(100).repeat(100);
        assert_eq!(pipe_piece(&many).len(), max / 100 * 100);
        // A longer line goes at once, to its end.
        let long = [line(max + 1), line(5)].concat();
        assert_eq!(pipe_piece(&long).len(), max + 1);
        // No newline at all (not sent by the collector): everything.
        assert_eq!(pipe_piece(b"abc").len(), 3);
        assert_eq!(pipe_piece(b"a\nbc").len(), 2);
    }
}
