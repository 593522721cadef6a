//! The poll loop. Each cycle runs the same steps in the same order, the data
//! flowing one way:
//!
//! 1. discover: re-expand the PATH patterns;
//! 2. identify: stat each path, match it to a tracked file by (device, inode)
//!    and fingerprint, notice files that appeared, came back or went away;
//! 3. read and split: read the new bytes of each active file (oldest first,
//!    at most a budget per file), split them into lines;
//! 4. encode and write: append the lines to one batch, written in large writes;
//! 5. sync: fsync the output;
//! 6. commit: save the checkpoint.
//!
//! The output is synced before the checkpoint is saved because a checkpoint
//! is a promise that everything before its offsets has reached the output: a
//! crash between the two steps then repeats lines, never loses them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::checkpoint::{Checkpoint, OutputMark, Store};
use crate::discover::{self, Spec};
use crate::encode::Shared;
use crate::error::{show, Error, ExitCode, IoContext};
use crate::identity::{self, FileId};
use crate::notify::Notifier;
use crate::output::{Output, TailRecord, Verdict, WriteError};
use crate::settings::Settings;
use crate::signals::Signals;
use crate::stats::{self, Gauges, Stats};
use crate::tracker::{Event, Observation, Tracked};

mod deliver;
mod identify;
mod parts;
mod salvage;
mod watch;

use parts::{Commits, Descriptors, FileTable, Looking, OwnFiles, Scratch};

/// Bytes read from a file at a time (the read buffer holds at least a maximal line too).
const READ_CHUNK: usize = 1 << 20;
/// Bytes read from one file in one cycle, so one backlog cannot starve the others.
const FILE_BUDGET: u64 = 16 << 20;
/// The batch is written out once it holds this much.
const BATCH_BYTES: usize = 1 << 20;
/// Raw lines filling at least this much of one read skip the batch.
const DIRECT_BYTES: usize = 64 << 10;
/// A raw backlog of at least this much is copied in the kernel when the
/// output is a regular file...
const COPY_MIN: u64 = 1 << 20;
/// ...scanned for newlines this much at a time.
#[cfg_attr(not(target_pointer_width = "64"), allow(dead_code))]
const MAP_CHUNK: usize = 4 << 20;
/// How long a fully delivered file that went away is remembered.
const RETIRED_RETENTION_SECS: u64 = 3600;
/// How long a cycle waits for an output command to read what it was sent.
const CONFIRM_WAIT: Duration = Duration::from_millis(100);
/// When the last checkpoint is older than this, a cycle waits longer.
const CONFIRM_OVERDUE: Duration = Duration::from_secs(2);
/// How long a cycle waits then (within the second a stop may take).
const CONFIRM_WAIT_OVERDUE: Duration = Duration::from_millis(500);
/// The same at shutdown, within the one second a stop may take.
const SHUTDOWN_CONFIRM_WAIT: Duration = Duration::from_millis(300);
/// How often the STATUS= line for systemd is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// The longest wait between retries of a failing output.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What a cycle left behind.
#[derive(Debug, Default)]
struct Outcome {
    /// Some file still has bytes to read: start the next cycle at once.
    backlog: bool,
    /// The output failed (with this error) and was rolled back: wait
    /// before trying again.
    retry: Option<String>,
    /// A command has not read all it was sent yet: nothing was confirmed.
    /// When the wait for it began.
    unconfirmed: Option<Instant>,
    /// The output stopped taking data for the whole `--once-timeout`.
    stalled: bool,
}

struct Collector<'a> {
    settings: Settings,
    /// The PATH patterns, compiled.
    specs: Vec<Spec>,
    output: Output,
    signals: &'a Signals,
    notify: Notifier,
    table: FileTable,
    looking: Looking,
    own: OwnFiles,
    commits: Commits,
    scratch: Scratch,
    fds: Descriptors,
    stats: Stats,
    /// When the stats file was last written.
    stats_written: Option<Instant>,
    /// Paths and directories warned about, so each problem is logged once.
    warned: HashMap<PathBuf, String>,
    /// With `--once`: since when a command has not read the last of what it
    /// was sent.
    unread_since: Option<Instant>,
    /// With `--once`, while the output takes nothing: when the run gives up
    /// on it, and why (see `once_done`). Every wait ends by then.
    give_up: Option<(Instant, String)>,
}

/// Runs the collector until a stop signal (or, with `--once`, until caught up).
/// `reload` builds fresh settings from the config file on SIGHUP.
pub fn run(
    settings: Settings,
    reload: &dyn Fn() -> Result<Settings, Error>,
    signals: &Signals,
) -> Result<(), Error> {
    if let Some(unused) = settings.unused_with_raw() {
        log::warn!("{unused}");
    }
    let (store, loaded) = Store::open(&settings.state_dir)?;
    if settings.once {
        signals.set_cut_short(ExitCode::Failure.code(), interrupted().report());
    }
    // Before the output opens: a command started later gets the same limit.
    let max_open = descriptor_budget();
    let Some(mut output) = open_output(&settings, signals)? else {
        return Ok(());
    };
    output.give_up_after(settings.once.then_some(settings.once_timeout));
    let mut c = Collector::new(settings, store, output, signals, loaded, max_open)?;
    // Record the output's identity and length before the first write, so that
    // a crash in the very first cycle can be cut back too.
    c.commit();
    let mut first = true;
    let mut last_status = Instant::now();
    let mut result = Ok(());
    // The run gave up on the output: its command gets no time to finish.
    let mut gave_up = false;
    loop {
        let started = Instant::now();
        let outcome = match c.cycle() {
            Ok(outcome) => outcome,
            Err(e) => {
                warn_failed(c.output.close(false));
                return Err(e);
            }
        };
        if first || last_status.elapsed() >= STATUS_EVERY {
            c.report(first);
            first = false;
            last_status = Instant::now();
        }
        if signals.should_stop() {
            log::info!("stopping on request");
            if c.settings.once {
                result = Err(interrupted());
            }
            break;
        }
        if c.settings.once {
            if let Some(end) = c.once_done(&outcome) {
                gave_up = end.is_err();
                result = end;
                break;
            }
        }
        if signals.take_reload() {
            if let Err(e) = c.reload(reload) {
                warn_failed(c.output.close(false));
                return Err(e);
            }
        }
        if signals.take_stats() {
            c.log_stats();
        }
        if outcome.retry.is_some() {
            c.rest(c.commits.retry_delay);
            c.commits.retry_delay = (c.commits.retry_delay * 2).min(MAX_RETRY_DELAY);
        } else if !outcome.backlog {
            c.rest(c.settings.interval.saturating_sub(started.elapsed()));
        }
        // The moment to give up came during the rest: no cycle after it.
        if let Some(end) = c.out_of_time() {
            gave_up = true;
            result = end;
            break;
        }
        c.notify.keep_alive();
        c.write_stats(false);
    }
    c.notify.send("STOPPING=1");
    // A save may be left undone: a stop in the middle of a cycle, or lines a
    // command had not read yet. Confirm what can be confirmed (a run that
    // gave up waits no more).
    let wait = if gave_up {
        Duration::ZERO
    } else {
        SHUTDOWN_CONFIRM_WAIT
    };
    if c.commits.dirty && matches!(c.output.sync(c.settings.fsync, wait), Ok(true)) {
        c.commit();
    }
    c.output.stopped_clean(c.settings.fsync);
    c.write_stats(true);
    // The last save failed: the checkpoint on disk is older than what was
    // delivered, and the next start sends those lines again.
    let saved = c
        .commits
        .save_failed
        .take()
        .map_or(Ok(()), |message| Err(not_saved(message)));
    let once = c.settings.once;
    let failed_before = c.output.command_failed().map(str::to_string);
    let closed = c.output.close(gave_up);
    // Without --once a command's status at shutdown is only logged: the
    // collector was asked to stop, and did.
    let command = match (once, closed) {
        (true, Some(how)) if result.is_ok() && saved.is_ok() => Err(command_failed(how)),
        (true, None) => match failed_before {
            Some(how) => Err(command_failed(format!(
                "{how} during the run (it was started again)"
            ))),
            None => Ok(()),
        },
        (_, closed) => {
            warn_failed(closed);
            Ok(())
        }
    };
    result.and(saved).and(command)
}

/// Logs how an output command ended at shutdown, when that was a failure
/// (see `Output::close`).
fn warn_failed(closed: Option<String>) {
    if let Some(how) = closed {
        log::warn!("{how}");
    }
}

/// The last checkpoint save failed, as `message` says.
fn not_saved(message: String) -> Error {
    Error::State {
        message,
        hint: "make the state dir writable and give it room: until a checkpoint is \
               saved, each start sends again what was delivered since the last one"
            .into(),
    }
}

/// A `--once` run whose output command `how` (exited with status 1, ...).
fn command_failed(how: String) -> Error {
    Error::Unfinished {
        message: format!("--once: {how}"),
        hint: "the lines it read count as delivered and the checkpoint covers them: \
               a command should exit with status 0 once it has handled its input"
            .into(),
    }
}

/// Opens the output; None when a stop came first in the daemon. With
/// `--once`, a FIFO's reader is waited for no longer than a failing output
/// is retried.
fn open_output(settings: &Settings, signals: &Signals) -> Result<Option<Output>, Error> {
    let opened_at = Instant::now();
    let once_timeout = settings.once.then_some(settings.once_timeout);
    let out_of_time = || once_timeout.is_some_and(|t| opened_at.elapsed() >= t);
    let stop = || signals.should_stop() || out_of_time();
    match Output::open(&settings.output, &stop) {
        Err(_) if signals.should_stop() => {
            if settings.once {
                Err(interrupted())
            } else {
                Ok(None)
            }
        }
        Err(Error::OutputGone { what, .. }) if out_of_time() => {
            Err(gave_up(what, settings.once_timeout, "it has no reader"))
        }
        other => other.map(Some),
    }
}

/// A `--once` run that a stop signal cut short.
fn interrupted() -> Error {
    Error::Unfinished {
        message: "stopped by a signal before --once was done".into(),
        hint: "the next run goes on from the saved checkpoint".into(),
    }
}

/// A `--once` run whose output `what` took nothing for `timeout`, and `why`.
fn gave_up(what: String, timeout: Duration, why: &str) -> Error {
    Error::Unfinished {
        message: format!(
            "--once gave up on {what} after {} (--once-timeout): {why}",
            show_duration(timeout)
        ),
        hint: "make the output work, or allow it more time with --once-timeout; \
               what was not delivered is sent on the next run"
            .into(),
    }
}

/// A duration the way the options take it: `1m`, `30s`, `250ms`.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

impl<'a> Collector<'a> {
    fn new(
        settings: Settings,
        store: Store,
        mut output: Output,
        signals: &'a Signals,
        loaded: Option<Checkpoint>,
        max_open: usize,
    ) -> Result<Collector<'a>, Error> {
        let loaded = loaded.unwrap_or_default();
        let mark = start_output(&settings, &mut output, loaded.output)?;
        let committed_output = mark.map(|m| m.length);
        let per_path_wanted = settings.stats_file.is_some();
        let shared = Shared::new(settings.host.as_bytes(), &settings.fields);
        let marks = salvage::Marks::new(&output, &settings, &shared);
        let born_after = fs::metadata(store.path())
            .ok()
            .and_then(|m| identity::modified(&m));
        let table = FileTable {
            history: loaded.files.iter().map(|e| e.path.to_path_buf()).collect(),
            ..FileTable::default()
        };
        let looking = Looking {
            found: Vec::new(),
            watch: watch::Watch::default(),
            problems: Vec::new(),
            dir_cache: discover::DirCache::default(),
            looks: 0,
            listings: HashMap::new(),
            unknown: HashSet::new(),
            first_cycle: true,
            first_look: identify::FirstLook {
                known: loaded.files.len() as u64,
                ..identify::FirstLook::default()
            },
            born_after,
            excludes_checked: None,
        };
        let own = OwnFiles {
            output_id: mark.map(|m| m.id),
            not_followed_in: u64::MAX,
            not_followed: Vec::new(),
            not_to_follow: crate::reserved::not_to_follow(&settings),
        };
        let commits = Commits {
            store,
            dirty: false,
            committed_output,
            write_failing: None,
            save_failed: None,
            retry_delay: Duration::from_millis(100),
            committed_at: Instant::now(),
            marks,
        };
        let scratch = Scratch {
            order: Vec::new(),
            buf: vec![0; READ_CHUNK],
            spans: Vec::new(),
            batch: Vec::with_capacity(BATCH_BYTES * 2),
            shared,
        };
        let mut c = Collector {
            specs: discover::compile(&settings.paths, &settings.excludes),
            settings,
            output,
            signals,
            notify: Notifier::from_env(),
            table,
            looking,
            own,
            commits,
            scratch,
            fds: Descriptors {
                open: 0,
                max: max_open,
            },
            stats: Stats {
                per_path_wanted,
                ..Stats::default()
            },
            stats_written: None,
            warned: HashMap::new(),
            unread_since: None,
            give_up: None,
        };
        for entry in &loaded.files {
            let t = Tracked::from_entry(entry, c.settings.format);
            c.insert(t);
        }
        Ok(c)
    }

    /// Takes on `t`: a new entry of the checkpoint.
    fn insert(&mut self, t: Tracked) -> u64 {
        self.commits.dirty = true;
        self.table.insert(t, self.looking.looks)
    }

    fn cycle(&mut self) -> Result<Outcome, Error> {
        self.identify();
        if self.looking.first_cycle {
            self.looking.first_look.count_resumed(&self.table.files);
        }
        self.looking.first_cycle = false;
        // A command that stays a little behind never empties its pipe at a
        // cycle's end; once confirmation is overdue, give it longer to catch
        // up (nothing new is written meanwhile), so checkpoints keep moving.
        let wait = if self.commits.committed_at.elapsed() > CONFIRM_OVERDUE {
            CONFIRM_WAIT_OVERDUE
        } else {
            CONFIRM_WAIT
        };
        let mut wait_from = Instant::now();
        let backlog = match self.deliver().and_then(|backlog| {
            wait_from = Instant::now();
            let wait = self.within_once_timeout(wait);
            self.output
                .sync(self.settings.fsync, wait)
                .map(|taken| (backlog, taken))
        }) {
            Ok((backlog, true)) => backlog,
            // A command has not read it all yet: confirm it in a later cycle.
            Ok((backlog, false)) => {
                return Ok(Outcome {
                    backlog,
                    unconfirmed: Some(wait_from),
                    ..Outcome::default()
                })
            }
            Err(WriteError::Gone(e)) => return Err(e),
            Err(WriteError::Retry(e)) => {
                let why = e.to_string();
                let stalled = e.kind() == io::ErrorKind::TimedOut;
                self.write_failed(e)?;
                return Ok(Outcome {
                    retry: Some(why),
                    stalled,
                    ..Outcome::default()
                });
            }
        };
        // Only lines that got through show that the output works: cycles
        // that wrote nothing (nothing new, or a stop came first) prove nothing.
        if let Some((_, recovered_at)) = self.commits.write_failing {
            if self.output.position() != recovered_at {
                log::info!("writing to {} works again", self.output.describe());
                self.commits.write_failing = None;
            }
        }
        self.commits.retry_delay = Duration::from_millis(100);
        if self.commits.dirty {
            self.commit();
        } else {
            self.commits.committed_at = Instant::now();
        }
        self.forget_old();
        Ok(Outcome {
            backlog,
            ..Outcome::default()
        })
    }

    /// After a cycle: the start-up lines and READY the first time, else the
    /// STATUS line for systemd.
    fn report(&mut self, first: bool) {
        let status = self.status();
        if first {
            // Only after a cycle is it known how many files the PATHs match.
            log::info!(
                "following {}, writing to {}, state in {}",
                self.following(),
                self.output.describe(),
                show(&self.settings.state_dir)
            );
            log::info!("{}", self.looking.first_look.summary());
            // Ready: the state is loaded and the first cycle is done.
            self.notify.ready(&status);
        } else {
            self.notify.send(&format!("STATUS={status}"));
        }
    }

    /// With `--once`, after a cycle: whether the run is over, and how. It is
    /// done once nothing is left to read, retry or confirm; an output that
    /// keeps failing, stops taking data, or (a command) does not read the
    /// last of its input gets `--once-timeout` from when that began (the
    /// first failure, the start of the wait for the command), then the run
    /// gives up. Until then, `give_up` says when that will be, and every
    /// wait ends by then.
    fn once_done(&mut self, outcome: &Outcome) -> Option<Result<(), Error>> {
        self.give_up = None;
        self.output.give_up_at(None);
        if !outcome.backlog && outcome.retry.is_none() && outcome.unconfirmed.is_none() {
            return Some(Ok(()));
        }
        self.unread_since = match outcome.unconfirmed {
            Some(at) if !outcome.backlog => Some(self.unread_since.unwrap_or(at)),
            _ => None,
        };
        let timeout = self.settings.once_timeout;
        if outcome.stalled {
            // The write itself waited the whole --once-timeout already.
            let why = "it stopped taking what it was sent";
            return Some(Err(gave_up(self.output.describe(), timeout, why)));
        }
        let (since, why) = match (
            &outcome.retry,
            self.commits.write_failing,
            self.unread_since,
        ) {
            (Some(why), Some((since, _)), _) => (since, why.clone()),
            (None, _, Some(since)) => (since, "it did not read all it was sent".to_string()),
            _ => return None,
        };
        self.give_up = Some((since + timeout, why));
        self.output.give_up_at(Some(since + timeout));
        self.out_of_time()
    }

    /// With `--once`: the run's end when the moment to give up on the
    /// output (`give_up`) has come.
    fn out_of_time(&self) -> Option<Result<(), Error>> {
        let (at, why) = self.give_up.as_ref()?;
        (Instant::now() >= *at).then(|| {
            Err(gave_up(
                self.output.describe(),
                self.settings.once_timeout,
                why,
            ))
        })
    }

    /// `wait` cut short to end by the moment a `--once` run gives up on its
    /// output, and to last no longer than `--once-timeout` in any case.
    fn within_once_timeout(&self, wait: Duration) -> Duration {
        if !self.settings.once {
            return wait;
        }
        let left = self
            .give_up
            .as_ref()
            .map_or(wait, |(at, _)| at.saturating_duration_since(Instant::now()));
        wait.min(left).min(self.settings.once_timeout)
    }

    /// The output failed with an error worth retrying: undo the cycle, but
    /// for what the output took before it failed.
    fn write_failed(&mut self, e: io::Error) -> Result<(), Error> {
        self.stats.write_errors += 1;
        let since = match self.commits.write_failing {
            Some((since, _)) => since,
            None => {
                log::warn!(
                    "cannot write to {}: {e}; lines are kept and sent again from the last checkpoint",
                    self.output.describe()
                );
                Instant::now()
            }
        };
        self.scratch.batch.clear();
        for t in self.table.files.values_mut() {
            t.observe(&Observation::OutputFailed, false).events();
        }
        // Settled files may have bytes to read again.
        self.looking.watch.invalidate();
        // Forward again to what the output took before it failed, saved.
        self.keep_delivered();
        // With --once, no command is started again once the run gives up:
        // after a write that waited the whole --once-timeout, or past the
        // moment to give up.
        let giving_up = self.settings.once
            && (e.kind() == io::ErrorKind::TimedOut
                || self
                    .give_up
                    .as_ref()
                    .is_some_and(|(at, _)| Instant::now() >= *at));
        let stop = || self.signals.should_stop() || giving_up;
        let recovered = match self.output.recover(self.commits.committed_output, &stop) {
            Err(_) if self.signals.should_stop() => Ok(()),
            other => other,
        };
        // What is sent next counts from the recovered output's position.
        self.restart_marks();
        self.commits.write_failing = Some((since, self.output.position()));
        recovered
    }

    /// Step 6: saves the checkpoint; on success the new offsets become the
    /// committed ones. A failed save is retried next cycle.
    fn commit(&mut self) {
        let now = unix_now();
        let output = match self.output.mark() {
            Ok(mark) => mark,
            Err(e) => {
                log::warn!(
                    "cannot stat {}: {e}; checkpoint not saved",
                    self.output.describe()
                );
                let message = format!(
                    "cannot save checkpoint {}: cannot stat {}: {e}",
                    show(self.commits.store.path()),
                    self.output.describe()
                );
                self.save_failed(message);
                return;
            }
        };
        let files = self.table.files.values().map(|t| t.entry(now)).collect();
        let cp = Checkpoint { output, files };
        match self.commits.store.save(&cp, self.settings.fsync) {
            Ok(_) => {
                self.stats.last_checkpoint = Some(SystemTime::now());
                self.commits.committed_at = Instant::now();
                if self.commits.save_failed.take().is_some() {
                    log::info!("checkpoint {} saved again", show(self.commits.store.path()));
                    self.arm_stop_clock();
                }
                self.commits.dirty = false;
                self.output.committed(output);
                self.commits.committed_output = output.map(|m: OutputMark| m.length);
                // Marks count from the output's position at this checkpoint.
                self.restart_marks();
                let mut events = Vec::new();
                for t in self.table.files.values_mut() {
                    events.extend(t.committed(now));
                }
                self.emit(events);
                // The let-go files are covered by the checkpoint just saved.
                self.commits.dirty = false;
            }
            Err(e) => {
                let message = format!(
                    "cannot save checkpoint {}: {e}",
                    show(self.commits.store.path())
                );
                if self.save_failed(message.clone()) {
                    log::error!("{message}; retrying every cycle");
                }
            }
        }
    }

    /// The last save failed as `message` says; the stop clock is told when
    /// that changes. Returns whether saves were working until now.
    fn save_failed(&mut self, message: String) -> bool {
        let first = self.commits.save_failed.is_none();
        if self.commits.save_failed.as_ref() != Some(&message) {
            self.commits.save_failed = Some(message);
            self.arm_stop_clock();
        }
        first
    }

    /// Tells the stop clock how to end a stop that abandons the write in
    /// hand: a `--once` run is interrupted; a daemon whose last save failed
    /// fails with that error, as it would at the end of a clean stop.
    fn arm_stop_clock(&self) {
        let (status, report) = match (&self.commits.save_failed, self.settings.once) {
            (_, true) => (ExitCode::Failure.code(), interrupted().report()),
            (Some(message), false) => (
                ExitCode::Failure.code(),
                not_saved(message.clone()).report(),
            ),
            (None, false) => (ExitCode::Success.code(), String::new()),
        };
        self.signals.set_cut_short(status, report);
    }

    /// Drops retired files after the retention period.
    fn forget_old(&mut self) {
        let now = unix_now();
        // Retired files are never settled.
        let expired: Vec<u64> = self
            .table
            .unsettled
            .iter()
            .copied()
            .filter(|seq| {
                self.table
                    .files
                    .get(seq)
                    .is_some_and(|t| t.expired(now, RETIRED_RETENTION_SECS))
            })
            .collect();
        for seq in expired {
            self.forget(seq);
        }
    }

    /// A read of a tracked file failed (see `Tracked::read_failed`).
    fn read_failed(&mut self, seq: u64, e: io::Error) {
        self.stats.read_errors += 1;
        let Some(t) = self.table.files.get_mut(&seq) else {
            return;
        };
        if t.read_failed() {
            self.fds.open = self.fds.open.saturating_sub(1);
        }
        let path = t.seen_at().to_path_buf();
        self.warn_once(&path, format!("cannot read {}: {e}; retrying", show(&path)));
    }

    /// A file not tracked yet could not be read: warned once, retried.
    fn unreadable(&mut self, path: &Path, e: io::Error) {
        self.stats.read_errors += 1;
        self.warn_once(path, format!("cannot read {}: {e}; retrying", show(path)));
    }

    /// Logs and counts what a transition of a tracked file said.
    #[inline]
    fn emit(&mut self, events: Vec<Event>) {
        emit(events, &mut self.stats, &mut self.commits.dirty);
    }

    fn warn_once(&mut self, key: &Path, message: String) {
        if self.warned.get(key) != Some(&message) {
            log::warn!("{message}");
            self.warned.insert(key.to_path_buf(), message);
        }
    }

    /// SIGHUP: re-read the config file and reopen a file output.
    fn reload(&mut self, reload: &dyn Fn() -> Result<Settings, Error>) -> Result<(), Error> {
        let new = if self.settings.config_file.is_some() {
            match reload() {
                Ok(new) => Some(new),
                Err(e) => {
                    log::error!("reload: {e}; keeping the current settings");
                    None
                }
            }
        } else {
            None
        };
        // With --once, a FIFO without a reader is waited for no longer than that allows.
        let until = Instant::now() + self.settings.once_timeout;
        let once = self.settings.once;
        let stop = || self.signals.should_stop() || (once && Instant::now() >= until);
        let new = new.and_then(|new| {
            // With the state dir and output kept (below), no clash either.
            let mut kept = new.clone();
            kept.state_dir = self.settings.state_dir.clone();
            kept.output = self.settings.output.clone();
            match crate::reserved::check(&kept) {
                Ok(()) => Some(new),
                Err(e) => {
                    log::error!("reload: {e}; keeping the current settings");
                    None
                }
            }
        });
        if let Some(mut new) = new {
            if new.state_dir != self.settings.state_dir {
                log::warn!("reload: a new state-dir takes effect only after a restart");
                new.state_dir = self.settings.state_dir.clone();
            }
            if new.output != self.settings.output {
                log::warn!("reload: a new output takes effect only after a restart");
                new.output = self.settings.output.clone();
            }
            if new.format != self.settings.format {
                for t in self.table.files.values_mut() {
                    t.set_format(new.format);
                }
            }
            self.scratch.shared = Shared::new(new.host.as_bytes(), &new.fields);
            if let Some(unused) = new.unused_with_raw() {
                log::warn!("reload: {unused}");
            }
            self.scratch
                .buf
                .truncate(READ_CHUNK.max(new.max_line_bytes + 1));
            self.specs = discover::compile(&new.paths, &new.excludes);
            self.stats.per_path_wanted |= new.stats_file.is_some();
            self.settings = new;
            self.output.set_write_behind(self.settings.fsync);
            self.own.not_to_follow = crate::reserved::not_to_follow(&self.settings);
            self.looking.watch.invalidate();
            log::info!("reload: settings re-read from the config file");
        }
        match self.output.reopen(&stop) {
            Ok(true) => {}
            Ok(false) => {
                log::info!("{} is still in place; kept open", self.output.describe());
                return Ok(());
            }
            Err(e) => {
                if !self.signals.should_stop() {
                    log::error!("reload: {e}; still writing to the output opened before");
                }
                return Ok(());
            }
        }
        let mark = self.output.mark().map_err(|e| io_error(&self.output, e))?;
        self.commits.committed_output = mark.map(|m| m.length);
        self.own.output_id = mark.map(|m| m.id);
        self.commits.dirty = true;
        // The new output may be a file that was followed.
        self.looking.watch.invalidate();
        log::info!("reopened {}", self.output.describe());
        Ok(())
    }

    /// Sleeps for `d`, waking for the watchdog and for signals; with
    /// `--once`, no longer than until the run gives up on its output.
    fn rest(&mut self, d: Duration) {
        let until = Instant::now() + self.within_once_timeout(d);
        loop {
            self.notify.keep_alive();
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.signals.should_stop() || self.signals.pending() {
                return;
            }
            let chunk = self
                .notify
                .next_ping_in()
                .map_or(left, |ping| ping.clamp(Duration::from_millis(1), left));
            self.signals.sleep(chunk);
        }
    }

    /// Replaces the `--stats-file`, at most once a second unless `now`.
    fn write_stats(&mut self, now: bool) {
        let Some(path) = &self.settings.stats_file else {
            return;
        };
        if !now
            && self
                .stats_written
                .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.stats_written = Some(Instant::now());
        let mut gauges = Gauges::default();
        for t in self.table.files.values().filter(|t| t.is_active()) {
            gauges.files_watched += 1;
            *gauges.lag.entry(t.path().to_path_buf()).or_default() += t.lag();
        }
        if let Err(e) = stats::write_file(path, &stats::render(&self.stats, &gauges)) {
            self.warn_once(
                &path.clone(),
                format!("cannot write stats file {}: {e}", show(path)),
            );
        }
    }

    /// `1 PATH (3 files)`: what the PATHs given amount to now.
    fn following(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let files = self.table.files.values().filter(|t| t.is_active()).count();
        format!(
            "{} ({})",
            plural(self.specs.len(), "PATH", "PATHs"),
            plural(files, "file", "files")
        )
    }

    /// The STATUS= line for systemd.
    fn status(&self) -> String {
        let watched = self.table.files.values().filter(|t| t.is_active()).count();
        format!(
            "following {watched} files; {} lines delivered",
            self.stats.lines
        )
    }

    fn log_stats(&self) {
        log::info!("{}", stats_line(&self.table.files, &self.stats));
    }
}

/// Logs and counts what a transition said, into `stats` and `dirty` (for
/// where the collector is borrowed in parts).
#[inline]
fn emit(events: Vec<Event>, stats: &mut Stats, dirty: &mut bool) {
    for event in events {
        match event {
            Event::Log(level, message) => log::log!(level, "{message}"),
            Event::Rotation => stats.rotations += 1,
            Event::Truncation => stats.truncations += 1,
            Event::Dirty => *dirty = true,
        }
    }
}

/// The USR1 line.
fn stats_line(files: &BTreeMap<u64, Box<Tracked>>, s: &Stats) -> String {
    let watched = files.values().filter(|t| t.is_active()).count();
    let open = files.values().filter(|t| t.is_open()).count();
    format!(
        "stats: {watched} files watched ({open} open), {} lines and {} bytes delivered, \
         {} rotations, {} truncations, {} read errors, {} write errors",
        s.lines, s.bytes, s.rotations, s.truncations, s.read_errors, s.write_errors
    )
}

/// What one stat of a path said.
#[derive(Clone, Copy, Debug)]
struct Look {
    id: FileId,
    size: u64,
    born: Option<u64>,
    /// The change time (`Stat::changed`).
    changed: u64,
}

/// Opens a log file and checks it is the file that was looked at: a path
/// can be given to another file between a stat and an open.
fn open_verified(path: &Path, id: FileId) -> Option<fs::File> {
    let file = identity::open_for_reading(path).ok()?;
    let meta = file.metadata().ok()?;
    (FileId::of(&meta) == id).then_some(file)
}

/// The byte before `offset` in a file `size` long, when there is one: tells
/// whether a checkpointed offset sits right after a cut piece of a long line
/// (the checkpoint does not say; the file does).
fn byte_before(file: &fs::File, offset: u64, size: u64) -> Option<u8> {
    if offset == 0 || offset > size {
        return None;
    }
    let mut before = [0u8; 1];
    (identity::read_full_at(file, &mut before, offset - 1).ok() == Some(1)).then_some(before[0])
}

/// Readies the output at start-up and returns its identity and length (a
/// file output): exactly-once for file output means bytes past the
/// checkpointed length (`saved`) that this collector wrote but never
/// confirmed come again, so they are cut off; bytes it cannot prove are its
/// own are kept (output/tail.rs).
fn start_output(
    settings: &Settings,
    output: &mut Output,
    saved: Option<OutputMark>,
) -> Result<Option<OutputMark>, Error> {
    let current = output.mark().map_err(|e| io_error(output, e))?;
    let tail = match current {
        Some(_) => Some(
            TailRecord::open(&settings.state_dir)
                .context(|| format!("cannot use state dir {}", show(&settings.state_dir)))?,
        ),
        None => None,
    };
    if let (Some(saved), Some(now), Some(tail)) = (saved, current, &tail) {
        if saved.id == now.id && now.length > saved.length {
            let extra = now.length - saved.length;
            let verdict = output.judge_tail(tail, saved.length, now.length);
            start_up_tail(output, verdict, saved.length, extra)?;
        }
    }
    let mark = output.mark().map_err(|e| io_error(output, e))?;
    if let (Some(tail), Some(mark)) = (tail, mark) {
        output.keep_tail(tail, mark, settings.fsync);
    }
    output.set_write_behind(settings.fsync);
    Ok(mark)
}

/// Acts on what the bytes past the checkpointed length `committed` of a
/// file output are, at start-up.
fn start_up_tail(
    output: &mut Output,
    verdict: Verdict,
    committed: u64,
    extra: u64,
) -> Result<(), Error> {
    match verdict {
        Verdict::Ours => {
            output
                .cut_back(committed)
                .map_err(|e| io_error(output, e))?;
            log::info!(
                "cut {extra} unconfirmed bytes this collector wrote from {}; \
                 their lines are written again",
                output.describe()
            );
        }
        Verdict::Foreign => log::warn!(
            "{} has {extra} bytes past this collector's checkpoint that another writer \
             added; kept, and appended to (a file output belongs to one collector)",
            output.describe()
        ),
        Verdict::Unknown => log::warn!(
            "{} has {extra} bytes past this collector's checkpoint that it cannot prove \
             are its own; kept, and appended to: lines since the checkpoint are written \
             again and may appear twice (exactly-once does not hold for this restart)",
            output.describe()
        ),
    }
    Ok(())
}

fn io_error(output: &Output, source: io::Error) -> Error {
    Error::Io {
        context: format!("cannot use {}", output.describe()),
        source,
    }
}

/// How many descriptors followed files may hold: half of what the process
/// may open, after a reserve for the output, the state dir and the standard
/// streams. The soft limit is first raised toward the hard one, as far as the
/// budget can use (systemd's advice for programs that do not use select():
/// services start with 1024 and may raise it); an output command gets the
/// original limit back.
// rlim_t is 64 bits on most targets but 32 on 32-bit ARM.
#[allow(clippy::useless_conversion)]
fn descriptor_budget() -> usize {
    const MOST: usize = 4096;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct through the pointer we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return (1024 - 64) / 2;
    }
    let wanted = libc::rlim_t::try_from(2 * MOST + 64).unwrap_or(libc::rlim_t::MAX);
    if limit.rlim_cur < wanted && limit.rlim_max > limit.rlim_cur {
        let original = u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX);
        let raised = libc::rlimit {
            rlim_cur: wanted.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one struct through the pointer we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            crate::output::set_child_fd_limit(original);
            limit.rlim_cur = raised.rlim_cur;
        }
    }
    let soft = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    (soft.saturating_sub(64) / 2).clamp(8, MOST)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where `--from-end` starts a file: after its last newline, so that a line
/// being written is delivered whole once finished. A file whose last 64 KiB
/// hold no newline starts at its size.
fn end_of_last_line(file: &fs::File, size: u64) -> io::Result<u64> {
    const LOOK_BACK: u64 = 64 * 1024;
    let from = size.saturating_sub(LOOK_BACK);
    let mut tail = vec![0u8; (size - from) as usize];
    let n = identity::read_full_at(file, &mut tail, from)?;
    Ok(match memchr::memrchr(b'\n', &tail[..n]) {
        Some(i) => from + i as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}
