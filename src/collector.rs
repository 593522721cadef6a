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
use crate::config::Settings;
use crate::discover::{self, DirProblem, Found, Spec};
use crate::error::{show, Error};
use crate::identity::{self, FileId, Fingerprint, Kind};
use crate::lines::{self, Chunk};
use crate::output::{Output, WriteError};
use crate::signals::Signals;
use crate::tracker::{self, Change, Start, State, Tracked};
use std::os::unix::ffi::OsStrExt;

/// Bytes read from a file at a time (the read buffer holds at least a maximal line too).
const READ_CHUNK: usize = 1 << 20;
/// Bytes read from one file in one cycle, so one backlog cannot starve the others.
const FILE_BUDGET: u64 = 16 << 20;
/// The batch is written out once it holds this much.
const BATCH_BYTES: usize = 1 << 20;
/// How long a fully delivered file that went away is remembered.
const RETIRED_RETENTION_SECS: u64 = 3600;
/// How long a cycle waits for an output command to read what it was sent.
const CONFIRM_WAIT: Duration = Duration::from_millis(100);
/// The same at shutdown, within the one second a stop may take.
const SHUTDOWN_CONFIRM_WAIT: Duration = Duration::from_millis(300);
/// The longest wait between retries of a failing output.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Counters since start-up, for the USR1 line.
#[derive(Debug, Default)]
struct Stats {
    lines: u64,
    bytes: u64,
    rotations: u64,
    truncations: u64,
    read_errors: u64,
    write_errors: u64,
}

/// What a cycle left behind.
#[derive(Debug, Default)]
struct Outcome {
    /// Some file still has bytes to read: start the next cycle at once.
    backlog: bool,
    /// The output failed and was rolled back: wait before trying again.
    retry: bool,
}

struct Collector<'a> {
    settings: Settings,
    specs: Vec<Spec>,
    store: Store,
    output: Output,
    signals: &'a Signals,
    /// Tracked files by sequence number: the order they were first seen in,
    /// which is the order they are read in.
    files: BTreeMap<u64, Tracked>,
    by_id: HashMap<FileId, u64>,
    /// The newest file followed under each path: the predecessor of the next.
    latest_by_path: HashMap<PathBuf, u64>,
    /// Files not found since start-up, by inode (see `resume_moved`).
    missing_by_ino: HashMap<u64, u64>,
    next_seq: u64,
    /// Paths named in the checkpoint at start-up (for `--from-end`).
    history: HashSet<PathBuf>,
    first_cycle: bool,
    /// Something the checkpoint records changed since the last save.
    dirty: bool,
    /// The output's length as of the last saved checkpoint (file output).
    committed_output: Option<u64>,
    /// The output file's identity, never read as input.
    output_id: Option<FileId>,
    /// Paths and directories warned about, so each problem is logged once.
    warned: HashMap<PathBuf, String>,
    write_failing: bool,
    save_failing: bool,
    retry_delay: Duration,
    stats: Stats,
    // Buffers reused from cycle to cycle.
    found: Vec<Found>,
    problems: Vec<DirProblem>,
    seen: HashSet<FileId>,
    /// Descriptors held now, and the most that followed files may hold.
    open_count: usize,
    max_open: usize,
    /// Directory listings made this cycle to look for rotated files.
    listings: HashMap<PathBuf, Vec<Vec<u8>>>,
    order: Vec<u64>,
    buf: Vec<u8>,
    batch: Vec<u8>,
}

/// Runs the collector until a stop signal (or, with `--once`, until caught up).
/// `reload` builds fresh settings from the config file on SIGHUP.
pub fn run(
    settings: Settings,
    reload: &dyn Fn() -> Result<Settings, Error>,
    signals: &Signals,
) -> Result<(), Error> {
    let (store, loaded) = Store::open(&settings.state_dir)?;
    let stop = || signals.should_stop();
    let output = match Output::open(&settings.output, &stop) {
        Err(_) if signals.should_stop() => return Ok(()),
        other => other?,
    };
    let mut c = Collector::new(settings, store, output, signals, loaded)?;
    // Record the output's identity and length before the first write, so that
    // a crash in the very first cycle can be cut back too.
    c.commit();
    log::info!(
        "following {} path(s), writing to {}, state in {}",
        c.specs.len(),
        c.output.describe(),
        show(&c.settings.state_dir)
    );
    loop {
        let started = Instant::now();
        let outcome = c.cycle()?;
        if signals.should_stop() {
            log::info!("stopping on request");
            break;
        }
        if c.settings.once && !outcome.backlog && !outcome.retry {
            break;
        }
        if signals.take_reload() {
            c.reload(reload)?;
        }
        if signals.take_stats() {
            c.log_stats();
        }
        if outcome.retry {
            signals.sleep(c.retry_delay);
            c.retry_delay = (c.retry_delay * 2).min(MAX_RETRY_DELAY);
        } else if !outcome.backlog {
            signals.sleep(c.settings.interval.saturating_sub(started.elapsed()));
        }
    }
    // A save may be left undone: a stop in the middle of a cycle, or lines a
    // command had not read yet. Confirm what can be confirmed.
    if c.dirty
        && matches!(
            c.output.sync(c.settings.fsync, SHUTDOWN_CONFIRM_WAIT),
            Ok(true)
        )
    {
        c.commit();
    }
    c.output.close();
    Ok(())
}

impl<'a> Collector<'a> {
    fn new(
        settings: Settings,
        store: Store,
        mut output: Output,
        signals: &'a Signals,
        loaded: Option<Checkpoint>,
    ) -> Result<Collector<'a>, Error> {
        let loaded = loaded.unwrap_or_default();
        // Exactly-once for file output: bytes past the checkpointed length were
        // written by a run that died before confirming them; they come again.
        let current = output.mark().map_err(|e| io_error(&output, e))?;
        if let (Some(saved), Some(now)) = (loaded.output, current) {
            if saved.id == now.id && now.length > saved.length {
                output
                    .cut_back(saved.length)
                    .map_err(|e| io_error(&output, e))?;
                log::info!(
                    "cut {} unconfirmed bytes from {}; they are written again",
                    now.length - saved.length,
                    output.describe()
                );
            }
        }
        let mark = output.mark().map_err(|e| io_error(&output, e))?;
        let committed_output = mark.map(|m| m.length);
        let mut c = Collector {
            specs: settings.paths.iter().map(|p| Spec::new(p)).collect(),
            buf: vec![0; READ_CHUNK],
            settings,
            store,
            output,
            signals,
            files: BTreeMap::new(),
            by_id: HashMap::new(),
            latest_by_path: HashMap::new(),
            missing_by_ino: HashMap::new(),
            next_seq: 0,
            history: loaded.files.iter().map(|e| e.path.clone()).collect(),
            first_cycle: true,
            dirty: false,
            committed_output,
            output_id: mark.map(|m| m.id),
            warned: HashMap::new(),
            write_failing: false,
            save_failing: false,
            retry_delay: Duration::from_millis(100),
            stats: Stats::default(),
            found: Vec::new(),
            problems: Vec::new(),
            seen: HashSet::new(),
            listings: HashMap::new(),
            open_count: 0,
            max_open: descriptor_budget(),
            order: Vec::new(),
            batch: Vec::with_capacity(BATCH_BYTES * 2),
        };
        for entry in &loaded.files {
            let t = Tracked::from_entry(entry, c.settings.format);
            c.insert(t);
        }
        Ok(c)
    }

    fn insert(&mut self, t: Tracked) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(t.id, seq);
        self.latest_by_path.insert(t.path.clone(), seq);
        self.files.insert(seq, t);
        self.dirty = true;
        seq
    }

    fn cycle(&mut self) -> Result<Outcome, Error> {
        self.identify();
        self.first_cycle = false;
        let backlog = match self.deliver().and_then(|backlog| {
            self.output
                .sync(self.settings.fsync, CONFIRM_WAIT)
                .map(|taken| (backlog, taken))
        }) {
            Ok((backlog, true)) => backlog,
            // A command has not read it all yet: confirm it in a later cycle.
            Ok((backlog, false)) => {
                return Ok(Outcome {
                    backlog,
                    retry: false,
                })
            }
            Err(WriteError::Gone(e)) => return Err(e),
            Err(WriteError::Retry(e)) => {
                self.write_failed(e)?;
                return Ok(Outcome {
                    backlog: false,
                    retry: true,
                });
            }
        };
        if self.write_failing {
            log::info!("writing to {} works again", self.output.describe());
            self.write_failing = false;
        }
        self.retry_delay = Duration::from_millis(100);
        if self.dirty {
            self.commit();
        }
        self.forget_old();
        Ok(Outcome {
            backlog,
            retry: false,
        })
    }

    /// Steps 1 and 2: which files exist now, and what each look means.
    /// Known files are matched first, then the known files no longer seen
    /// are accounted for (a rotated-away file is found among its siblings),
    /// and only then are new files taken on, so that a rotated file is in
    /// place to go before its successor.
    fn identify(&mut self) {
        discover::expand(&self.specs, &mut self.found, &mut self.problems);
        for p in std::mem::take(&mut self.problems) {
            self.warn_once(
                &p.dir,
                format!("cannot read directory {}: {}", show(&p.dir), p.error),
            );
        }
        self.seen.clear();
        self.listings.clear();
        let found = std::mem::take(&mut self.found);
        let mut fresh = Vec::new();
        for f in &found {
            let meta = match fs::metadata(&f.path) {
                Ok(meta) => meta,
                Err(e) => {
                    if f.literal {
                        let what = match e.kind() {
                            io::ErrorKind::NotFound => {
                                "does not exist (yet); watching for it".to_string()
                            }
                            _ => format!("cannot be read: {e}; retrying"),
                        };
                        self.warn_once(&f.path, format!("{} {what}", show(&f.path)));
                    }
                    continue;
                }
            };
            let kind = identity::kind(&meta);
            if kind != Kind::Regular {
                if f.literal {
                    let what = match kind {
                        Kind::Directory => "is a directory",
                        Kind::Fifo => "is a FIFO",
                        _ => "is not a regular file",
                    };
                    self.warn_once(&f.path, format!("{} {what}; skipped", show(&f.path)));
                }
                continue;
            }
            let look = Look {
                id: FileId::of(&meta),
                size: meta.len(),
                born: identity::born(&meta),
            };
            if self.output_id == Some(look.id) {
                // Reading our own output would feed it back into itself.
                self.warn_once(
                    &f.path,
                    format!("{} is the output file; not followed", show(&f.path)),
                );
                continue;
            }
            if !self.seen.insert(look.id) {
                continue; // The same file through a second PATH.
            }
            match self.by_id.get(&look.id).copied() {
                Some(seq) => self.look_again(seq, &f.path, look),
                None => fresh.push((f.path.clone(), look)),
            }
        }
        self.found = found;
        self.account_for_missing();
        if self.first_cycle && !fresh.is_empty() {
            // Files the checkpoint names that were not found, by inode, for
            // spotting a device renumbering among the new arrivals.
            self.missing_by_ino = self
                .files
                .iter()
                .filter(|(_, t)| t.state == State::Missing)
                .map(|(&seq, t)| (t.id.ino, seq))
                .collect();
        }
        for (path, look) in fresh {
            if !self.resume_moved(&path, look) {
                self.track_new(&path, look);
            }
        }
    }

    /// Known files not seen at any watched path this cycle. An open one is
    /// drained through its descriptor. A closed one (and, at start-up, each
    /// file the checkpoint names) is looked for among its path's siblings
    /// (`app.log.1`, `app.log-20261124`): rotated while closed, or while the
    /// collector was stopped, it is drained from its offset.
    fn account_for_missing(&mut self) {
        let mut lookups = Vec::new();
        for (&seq, t) in self.files.iter_mut() {
            if self.seen.contains(&t.id) {
                continue;
            }
            match t.state {
                State::Following if t.file.is_some() => {
                    log::info!(
                        "{} was renamed away or deleted; reading the rest of it",
                        show(&t.path)
                    );
                    t.state = State::Gone {
                        since: Instant::now(),
                    };
                    self.stats.rotations += 1;
                    self.dirty = true;
                }
                State::Following => lookups.push(seq),
                State::Missing if self.first_cycle => lookups.push(seq),
                _ => {}
            }
        }
        for seq in lookups {
            match self.find_sibling(seq) {
                Some((path, file, size)) => {
                    let t = self.files.get_mut(&seq).expect("listed above");
                    log::info!(
                        "{} was renamed away (to {}); reading the rest of it",
                        show(&t.path),
                        show(&path)
                    );
                    let from_checkpoint = t.state == State::Missing;
                    t.seen_at = path;
                    t.size = size;
                    t.state = State::Gone {
                        since: Instant::now(),
                    };
                    if from_checkpoint {
                        self.resume_position(seq, &file);
                    }
                    if let Some(t) = self.files.get_mut(&seq) {
                        t.file = Some(file);
                    }
                    self.stats.rotations += 1;
                    self.dirty = true;
                }
                None => {
                    let t = self.files.get_mut(&seq).expect("listed above");
                    let was_following = t.state == State::Following;
                    if t.size > t.offset {
                        log::warn!(
                            "{} (inode {}) was renamed away or deleted and is not found \
                             beside it; what it held after offset {} is not delivered",
                            show(&t.path),
                            t.id.ino,
                            t.offset
                        );
                        // Kept: it may come back, with those bytes.
                        t.state = State::Missing;
                    } else {
                        if was_following {
                            log::info!("{} was renamed away or deleted", show(&t.path));
                        }
                        // Fully delivered: remembered for the retention period.
                        t.state = State::Retired { at: unix_now() };
                    }
                    if was_following {
                        self.stats.rotations += 1;
                    }
                    self.dirty = true;
                }
            }
        }
    }

    /// Looks for file `seq` among the entries of its directory whose names
    /// start with its file name; returns the path, an open descriptor and the
    /// size if it is there with the same identity and head.
    fn find_sibling(&mut self, seq: u64) -> Option<(PathBuf, fs::File, u64)> {
        let t = self.files.get(&seq)?;
        let (id, born, fingerprint) = (t.id, t.born, t.fingerprint);
        // Where it was last seen (a generation taken on beside the path),
        // where a symlinked PATH pointed, then the siblings of the name.
        let seen_at = t.seen_at.clone();
        let mut candidates: Vec<PathBuf> = Vec::new();
        if seen_at != t.path {
            candidates.push(seen_at.clone());
        }
        candidates.extend(t.target.iter().cloned());
        candidates.extend(self.siblings(&seen_at));
        for candidate in candidates {
            let Ok(meta) = fs::metadata(&candidate) else {
                continue;
            };
            if FileId::of(&meta) != id
                || born.is_some() && identity::born(&meta).is_some_and(|b| Some(b) != born)
            {
                continue;
            }
            let file = identity::open_for_reading(&candidate).ok()?;
            let size = file.metadata().ok()?.len();
            if identity::recheck(&file, size, fingerprint).ok()?.is_some() {
                return Some((candidate, file, size));
            }
        }
        None
    }

    /// The entries beside `path` whose names start with its file name
    /// (`app.log.1`, `app.log-20261124`), compressed ones left out. The
    /// directory is read at most once a cycle.
    fn siblings(&mut self, path: &Path) -> Vec<PathBuf> {
        let Some(name) = path.file_name().map(|n| n.as_encoded_bytes().to_vec()) else {
            return Vec::new();
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let listing = self
            .listings
            .entry(dir.clone())
            .or_insert_with(|| discover::list(&dir).unwrap_or_default());
        listing
            .iter()
            .filter(|entry| entry.len() > name.len() && entry.starts_with(&name))
            .filter(|entry| !discover::is_compressed(entry))
            .map(|entry| path.with_file_name(std::ffi::OsStr::from_bytes(entry)))
            .collect()
    }

    /// Generations of `path` that were created and rotated away between two
    /// looks (app.log -> app.log.1 -> app.log.2 within one interval, or while
    /// the collector was stopped): siblings nobody tracks, born after the
    /// file last followed at `path` and before the one there now. They are
    /// taken on, oldest first, before the new file. Needs birth times; they
    /// may be equal (the kernel stamps them with a coarse clock), so the
    /// bounds are inclusive and the files at the bounds are known already.
    fn track_between(
        &mut self,
        path: &Path,
        after: u64,
        before: u64,
        heads: [Option<Fingerprint>; 2],
    ) {
        let mut between = Vec::new();
        for candidate in self.siblings(path) {
            let Ok(meta) = fs::metadata(&candidate) else {
                continue;
            };
            let born = identity::born(&meta);
            let id = FileId::of(&meta);
            if !meta.is_file()
                || self.by_id.contains_key(&id)
                || !born.is_some_and(|b| after <= b && b <= before)
            {
                continue;
            }
            // A copytruncate copy of the predecessor is born after it too, but
            // starts like it: what it holds was read from the original.
            let Some(file) = open_verified(&candidate, id) else {
                continue;
            };
            let copy = heads
                .iter()
                .flatten()
                .any(|&fp| matches!(identity::recheck(&file, meta.len(), fp), Ok(Some(_))));
            if !copy {
                between.push((
                    born,
                    candidate,
                    Look {
                        id,
                        size: meta.len(),
                        born,
                    },
                ));
            }
        }
        between.sort_by_key(|(born, _, _)| *born);
        for (_, at, look) in between {
            log::info!(
                "{} was created and rotated to {} between two looks; reading it",
                show(path),
                show(&at)
            );
            self.track_at(path, &at, look);
        }
    }

    /// A file known from the checkpoint, found again at start-up at its own
    /// path on a device with another number (an NFS remount, an LVM change)
    /// but with the same inode, birth time and head: resumed with a warning
    /// instead of being read again.
    fn resume_moved(&mut self, path: &Path, look: Look) -> bool {
        if !self.first_cycle {
            return false;
        }
        let moved = self
            .missing_by_ino
            .get(&look.id.ino)
            .and_then(|&seq| Some((seq, self.files.get(&seq)?)));
        let Some((seq, t)) = moved.filter(|(_, t)| {
            t.state == State::Missing
                && t.id.dev != look.id.dev
                && t.path == path
                && t.born == look.born
        }) else {
            return false;
        };
        let fingerprint = t.fingerprint;
        let Some(file) = open_verified(path, look.id) else {
            return false;
        };
        if !matches!(
            identity::recheck(&file, look.size, fingerprint),
            Ok(Some(_))
        ) {
            return false;
        }
        let t = self.files.get_mut(&seq).expect("found above");
        log::warn!(
            "{}: same inode and content on another device number ({} -> {}); \
             resuming at offset {} (remounted?)",
            show(path),
            t.id.dev,
            look.id.dev,
            t.offset
        );
        self.by_id.remove(&t.id);
        t.id = look.id;
        self.by_id.insert(look.id, seq);
        self.look_again(seq, path, look);
        true
    }

    /// A known file seen again at `path`.
    fn look_again(&mut self, seq: u64, path: &Path, look: Look) {
        let Some(t) = self.files.get_mut(&seq) else {
            return;
        };
        if let (Some(then), Some(now)) = (t.born, look.born) {
            if then != now {
                // The inode was freed and given to a new file: the file we knew
                // is gone for good, whatever the new one's first bytes say.
                self.replace_recycled(seq, path, look);
                return;
            }
        }
        if t.seen_at != path {
            t.seen_at = path.to_path_buf();
        }
        match t.state {
            State::Following => t.size = look.size,
            State::Gone { .. } => {
                log::debug!("{} is back in view at {}", show(&t.path), show(path));
                t.state = State::Following;
                t.size = look.size;
                self.dirty = true;
            }
            State::Retired { .. } | State::Missing => {
                let Some(file) = open_verified(path, look.id) else {
                    return self.warn_once(path, format!("cannot open {}; retrying", show(path)));
                };
                let t = self.files.get_mut(&seq).expect("looked up above");
                match identity::recheck(&file, look.size, t.fingerprint) {
                    Ok(Some(fp)) => {
                        log::debug!("resuming {} at offset {}", show(&t.path), t.offset);
                        t.fingerprint = fp;
                        t.born = look.born;
                        t.state = State::Following;
                        t.size = look.size;
                        self.resume_position(seq, &file);
                        self.warned.remove(path);
                        self.dirty = true;
                    }
                    Ok(None) => self.replace_recycled(seq, path, look),
                    Err(e) => self.unreadable(path, e),
                }
            }
        }
    }

    /// Same inode, other content: the file we knew was deleted and its inode
    /// reused, or it was truncated and rewritten. What it still held is not
    /// delivered; the file there now is read from 0.
    fn replace_recycled(&mut self, seq: u64, path: &Path, look: Look) {
        let Some(t) = self.files.remove(&seq) else {
            return;
        };
        log::debug!("{} is a new file on a recycled inode", show(path));
        if !matches!(t.state, State::Retired { .. }) && t.size > t.offset {
            log::warn!(
                "{} (inode {}) is gone; what it held after offset {} is not delivered",
                show(&t.path),
                t.id.ino,
                t.offset
            );
        }
        self.by_id.remove(&t.id);
        if self.latest_by_path.get(&t.path) == Some(&seq) {
            self.latest_by_path.remove(&t.path);
        }
        self.dirty = true;
        self.track_new(path, look);
        // Born with the old one: not a recycled inode but the same file,
        // truncated and rewritten (copytruncate). A copy of what it held
        // before must not pass for a generation of its own later.
        let same_file = !matches!((t.born, look.born), (Some(a), Some(b)) if a != b);
        if let Some(new) = self
            .by_id
            .get(&look.id)
            .and_then(|seq| self.files.get_mut(seq))
        {
            if same_file {
                new.before_truncation = Some(t.fingerprint);
            }
        }
    }

    /// A file taken up again at its checkpointed offset: the checkpoint does
    /// not say whether that offset sits right after a cut piece of a long
    /// line; the file does (the byte before it is not a newline).
    fn resume_position(&mut self, seq: u64, file: &fs::File) {
        let Some(t) = self.files.get_mut(&seq) else {
            return;
        };
        let mut before = [0u8; 1];
        t.after_cut = t.offset > 0
            && t.offset <= t.size
            && identity::read_full_at(file, &mut before, t.offset - 1).ok() == Some(1)
            && before[0] != b'\n';
        t.read_pos = t.offset;
        t.committed = (t.offset, t.after_cut, t.fingerprint);
    }

    /// A file not tracked yet: decide where it starts and track it.
    fn track_new(&mut self, path: &Path, look: Look) {
        // Generations this file's predecessor was followed by without our
        // seeing them go first.
        let predecessor = self
            .latest_by_path
            .get(path)
            .and_then(|p| self.files.get(p));
        if let Some(p) = predecessor {
            let heads = [Some(p.fingerprint), p.before_truncation];
            if let (Some(after), Some(before)) = (p.born, look.born) {
                self.track_between(path, after, before, heads);
            }
        }
        self.track_at(path, path, look);
    }

    /// Takes on the file at `at`, followed under the name `path`.
    fn track_at(&mut self, path: &Path, at: &Path, look: Look) {
        let (id, size) = (look.id, look.size);
        if self.by_id.contains_key(&id) {
            return; // Taken on already this cycle, as a generation between two looks.
        }
        let file = match identity::open_for_reading(at) {
            Ok(file) => file,
            Err(e) => {
                return self.warn_once(at, format!("cannot open {}: {e}; retrying", show(at)));
            }
        };
        match file.metadata() {
            Ok(m) if FileId::of(&m) == id => {}
            _ => return, // Replaced between stat and open: look again next cycle.
        }
        let fingerprint = match identity::fingerprint(&file, size) {
            Ok(fp) => fp,
            Err(e) => return self.unreadable(path, e),
        };
        let history = self.history.contains(path);
        let offset = match tracker::start(None, self.first_cycle, self.settings.from_end, history) {
            Start::Beginning => 0,
            Start::Resume(offset) => offset,
            Start::End => match end_of_last_line(&file, size) {
                Ok(offset) => offset,
                Err(e) => return self.unreadable(path, e),
            },
        };
        let mut t = Tracked::new(
            id,
            path.to_path_buf(),
            self.settings.format,
            fingerprint,
            offset,
        );
        t.size = size;
        t.born = look.born;
        t.seen_at = at.to_path_buf();
        // A symlinked PATH: where it points now is where to look once it
        // points elsewhere.
        if fs::symlink_metadata(at).is_ok_and(|m| m.file_type().is_symlink()) {
            t.target = fs::canonicalize(at).ok();
        }
        // The descriptor is not kept: reading opens it when its turn comes, so
        // thousands of new files do not hold thousands of descriptors at once.
        drop(file);
        // The lines an older file of the same path holds now go out first.
        let predecessor = self
            .latest_by_path
            .get(&t.path)
            .and_then(|&pseq| Some((pseq, self.files.get(&pseq)?)))
            .filter(|(_, p)| p.is_active());
        if let Some((pseq, p)) = predecessor {
            let psize = p
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(p.size, |m| m.len());
            t.waits_for = Some((pseq, psize));
            self.stats.rotations += 1;
        }
        if offset == 0 {
            log::info!("following {} from the beginning", show(at));
        } else {
            log::info!("following {} from offset {offset}", show(at));
        }
        self.warned.remove(at);
        self.insert(t);
    }

    /// Steps 3 and 4: read, split, encode and write every active file.
    /// Returns whether some file still has bytes to read.
    fn deliver(&mut self) -> Result<bool, WriteError> {
        let mut backlog = false;
        self.order.clear();
        self.order.extend(
            self.files
                .iter()
                .filter(|(_, t)| t.is_active())
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
    fn let_go(&mut self, seq: u64, more: bool) {
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
    fn waiting(&mut self, seq: u64) -> bool {
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
    fn read_file(&mut self, seq: u64) -> Result<bool, WriteError> {
        let max = self.settings.max_line_bytes;
        let Some(t) = self.files.get_mut(&seq) else {
            return Ok(false);
        };
        if t.file.is_none() {
            // Closed since it was drained: opened again only when it changed.
            if t.state != State::Following
                || tracker::classify(t.read_pos, t.size) == Change::Unchanged
            {
                return Ok(false);
            }
            if self.open_count >= self.max_open {
                // Its turn comes once others let go: those still reading keep the
                // loop going, and gone files waiting to be let go should not.
                return Ok(false);
            }
            match identity::open_for_reading(&t.seen_at) {
                Ok(f) if f.metadata().is_ok_and(|m| FileId::of(&m) == t.id) => {
                    t.file = Some(f);
                    self.open_count += 1;
                }
                // Another file at that path now: the next look sorts it out.
                Ok(_) => return Ok(false),
                Err(e) => {
                    let path = t.seen_at.clone();
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
                Change::Grew => match identity::recheck(file, t.size, t.fingerprint)? {
                    Some(fp) => Head::Extended(fp),
                    None => Head::New(identity::fingerprint(file, t.size)?),
                },
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
        loop {
            // Looked up again each round: the batch is written out between
            // rounds, and while the output blocks, other files are tended to.
            let t = self.files.get_mut(&seq).expect("still tracked");
            let Some(file) = t.file.as_ref() else { break };
            if t.read_pos >= t.size || budget == 0 {
                break;
            }
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
            let (encoder, warned, lines) =
                (&t.encoder, &mut t.long_line_warned, &mut self.stats.lines);
            let batch = &mut self.batch;
            let split = lines::split(&self.buf[..n], t.offset, max, t.after_cut, |chunk| {
                if matches!(chunk, Chunk::Piece { .. }) && !*warned {
                    *warned = true;
                    log::warn!(
                        "{} has a line longer than {max} bytes; it is delivered in pieces",
                        show(&t.path)
                    );
                }
                *lines += encoder.encode(chunk, batch);
            });
            t.offset += split.consumed as u64;
            t.after_cut = split.after_cut;
            t.read_pos = t.offset + (n - split.consumed) as u64;
            if split.consumed > 0 {
                self.dirty = true;
            }
            if self.batch.len() >= BATCH_BYTES {
                self.flush()?;
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
            State::Following => t.seen_at != t.path && t.offset < t.size && quiet(t.changed_at),
            _ => false,
        };
        if done && t.read_pos == t.size && !t.finished {
            self.finish_gone(seq)?;
        }
        let t = self.files.get(&seq).expect("still tracked");
        Ok(t.read_pos < t.size)
    }

    /// Writes out the batch. While the output does not take it (a full pipe,
    /// a stalled FIFO), the loop's housekeeping goes on: a USR1 is answered,
    /// and a rotated or deleted file that was fully delivered and is quiet
    /// is let go, so its disk space is freed whatever the output does.
    fn flush(&mut self) -> Result<(), WriteError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let (files, stats, dirty) = (&mut self.files, &mut self.stats, &mut self.dirty);
        let (signals, interval) = (self.signals, self.settings.interval);
        let mut housekeeping = || {
            for t in files.values_mut() {
                if let State::Gone { since } = t.state {
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
            if signals.take_stats() {
                log::info!(
                    "{} (the output is not taking data)",
                    stats_line(files, stats)
                );
            }
        };
        self.output.write_all(&self.batch, &mut housekeeping)?;
        self.stats.bytes += self.batch.len() as u64;
        self.batch.clear();
        Ok(())
    }

    /// A gone file that stopped growing: deliver its final partial line with a
    /// newline added; it is let go once the checkpoint covering that is saved.
    fn finish_gone(&mut self, seq: u64) -> Result<(), WriteError> {
        let max = self.settings.max_line_bytes;
        let t = self.files.get_mut(&seq).expect("still tracked");
        if t.file.is_none() {
            t.file = open_verified(&t.seen_at, t.id);
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
                    let (encoder, batch, lines) =
                        (&t.encoder, &mut self.batch, &mut self.stats.lines);
                    let bytes = &self.buf[..n];
                    let split = lines::split(bytes, t.offset, max, t.after_cut, |chunk| {
                        *lines += encoder.encode(chunk, batch);
                    });
                    if (n as u64) < t.size - t.offset {
                        // More than one buffer left (the limit was lowered): deliver
                        // the pieces now, the rest next cycle.
                        t.offset += split.consumed as u64;
                        t.after_cut = split.after_cut;
                        t.read_pos = t.offset;
                        self.dirty = true;
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
                    t.offset += n as u64;
                    t.read_pos = t.offset;
                    t.after_cut = false;
                }
                Err(e) => log::warn!("cannot read the rest of {}: {e}", show(&t.path)),
            }
        }
        t.finished = true;
        self.dirty = true;
        Ok(())
    }

    /// The output failed with an error worth retrying: undo the cycle.
    fn write_failed(&mut self, e: io::Error) -> Result<(), Error> {
        self.stats.write_errors += 1;
        if !self.write_failing {
            log::warn!(
                "cannot write to {}: {e}; lines are kept and sent again from the last checkpoint",
                self.output.describe()
            );
            self.write_failing = true;
        }
        self.batch.clear();
        for t in self.files.values_mut() {
            t.roll_back();
        }
        let stop = || self.signals.should_stop();
        match self.output.recover(self.committed_output, &stop) {
            Err(_) if self.signals.should_stop() => Ok(()),
            other => other,
        }
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
                return;
            }
        };
        let files = self
            .files
            .values()
            .map(|t| {
                let mut e = t.entry();
                if t.finished {
                    e.retired = Some(now);
                }
                e
            })
            .collect();
        let cp = Checkpoint { output, files };
        match self.store.save(&cp, self.settings.fsync) {
            Ok(_) => {
                if self.save_failing {
                    log::info!("checkpoint {} saved again", show(self.store.path()));
                    self.save_failing = false;
                }
                self.dirty = false;
                self.committed_output = output.map(|m: OutputMark| m.length);
                for t in self.files.values_mut() {
                    t.committed = (t.offset, t.after_cut, t.fingerprint);
                    if t.finished {
                        log::debug!("{} fully delivered; closed", show(&t.path));
                        t.finished = false;
                        t.file = None;
                        t.state = State::Retired { at: now };
                    }
                }
            }
            Err(e) => {
                if !self.save_failing {
                    log::error!(
                        "cannot save checkpoint {}: {e}; retrying every cycle",
                        show(self.store.path())
                    );
                    self.save_failing = true;
                }
            }
        }
    }

    /// Drops retired files after the retention period.
    fn forget_old(&mut self) {
        let now = unix_now();
        let before = self.files.len();
        let (by_id, by_path) = (&mut self.by_id, &mut self.latest_by_path);
        self.files.retain(|&seq, t| match t.state {
            State::Retired { at } if now.saturating_sub(at) > RETIRED_RETENTION_SECS => {
                by_id.remove(&t.id);
                if by_path.get(&t.path) == Some(&seq) {
                    by_path.remove(&t.path);
                }
                false
            }
            _ => true,
        });
        if self.files.len() != before {
            self.dirty = true;
        }
    }

    /// A read of a tracked file failed. A followed file's descriptor is
    /// dropped, so the next cycle opens the path again (ESTALE on NFS, a file
    /// replaced under us); a gone file keeps its descriptor and is retried.
    fn read_failed(&mut self, seq: u64, e: io::Error) {
        self.stats.read_errors += 1;
        let Some(t) = self.files.get_mut(&seq) else {
            return;
        };
        if t.state == State::Following && t.file.take().is_some() {
            self.open_count = self.open_count.saturating_sub(1);
        }
        let path = t.seen_at.clone();
        self.warn_once(&path, format!("cannot read {}: {e}; retrying", show(&path)));
    }

    /// A file not tracked yet could not be read: warned once, retried.
    fn unreadable(&mut self, path: &Path, e: io::Error) {
        self.stats.read_errors += 1;
        self.warn_once(path, format!("cannot read {}: {e}; retrying", show(path)));
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
        let stop = || self.signals.should_stop();
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
                for t in self.files.values_mut() {
                    t.encoder = crate::encode::Encoder::new(
                        new.format,
                        t.path.as_os_str().as_encoded_bytes(),
                    );
                }
            }
            self.buf.truncate(READ_CHUNK.max(new.max_line_bytes + 1));
            self.specs = new.paths.iter().map(|p| Spec::new(p)).collect();
            self.settings = new;
            log::info!("reload: settings re-read from the config file");
        }
        if let Err(e) = self.output.reopen(&stop) {
            if !self.signals.should_stop() {
                log::error!("reload: {e}; still writing to the output opened before");
            }
            return Ok(());
        }
        let mark = self.output.mark().map_err(|e| io_error(&self.output, e))?;
        self.committed_output = mark.map(|m| m.length);
        self.output_id = mark.map(|m| m.id);
        self.dirty = true;
        log::info!("reopened {}", self.output.describe());
        Ok(())
    }

    fn log_stats(&self) {
        log::info!("{}", stats_line(&self.files, &self.stats));
    }
}

/// The USR1 line.
fn stats_line(files: &BTreeMap<u64, Tracked>, s: &Stats) -> String {
    let watched = files.values().filter(|t| t.is_active()).count();
    let open = files.values().filter(|t| t.file.is_some()).count();
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
}

/// Opens a log file and checks it is the file that was looked at: a path
/// can be given to another file between a stat and an open.
fn open_verified(path: &Path, id: FileId) -> Option<fs::File> {
    let file = identity::open_for_reading(path).ok()?;
    let meta = file.metadata().ok()?;
    (FileId::of(&meta) == id).then_some(file)
}

/// What a re-check of a grown or shrunk file found at its start.
enum Head {
    Same,
    /// Shorter than what was read, same head: looked at again next cycle.
    Shrunk,
    /// Same head, fingerprint now covering more bytes.
    Extended(Fingerprint),
    /// Other content: read again from 0 with this fingerprint.
    New(Fingerprint),
}

fn io_error(output: &Output, source: io::Error) -> Error {
    Error::Io {
        context: format!("cannot use {}", output.describe()),
        source,
    }
}

/// How many descriptors followed files may hold: half of what the process
/// may open, after a reserve for the output, the state dir and the standard
/// streams.
fn descriptor_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct through the pointer we pass.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    (soft.saturating_sub(64) / 2).clamp(8, 4096)
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
