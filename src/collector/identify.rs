//! Steps 1 and 2 of a cycle: which files exist now and what each look
//! means. Known files are matched by identity, the known files no longer
//! seen are looked for among their siblings, and only then are new files
//! taken on, so that a rotated file is in place to go before its successor.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{byte_before, end_of_last_line, open_verified, Collector, Look};
use crate::discover::{self, Found};
use crate::error::show;
use crate::identity::{self, FileId, Fingerprint, IdSet, Kind, Stat};
use crate::tracker::{
    self, Event, Generation, HeadCheck, Next, Observation, Predecessor, Sibling, Start, State,
    Tracked,
};

/// How the files of the first look were taken up, summed up in one line
/// instead of one per file.
#[derive(Debug, Default)]
pub(super) struct FirstLook {
    /// Files from the checkpoint have sequence numbers below this.
    pub known: u64,
    /// Files from the checkpoint followed on from their offset.
    pub resumed: usize,
    /// New files started at their beginning.
    pub beginning: u64,
    /// New files started at their end (`--from-end`).
    pub end: u64,
}

impl FirstLook {
    /// After the first look: counts the files from the checkpoint being read.
    pub fn count_resumed(&mut self, files: &BTreeMap<u64, Box<Tracked>>) {
        self.resumed = files
            .range(..self.known)
            .filter(|(_, t)| t.is_active())
            .count();
    }

    /// The line logged after the first cycle.
    pub fn summary(&self) -> String {
        let found = self.resumed as u64 + self.beginning + self.end;
        let files = if found == 1 { "file" } else { "files" };
        format!(
            "found {found} {files}: {} resumed from the checkpoint, {} started at the \
             beginning, {} at the end",
            self.resumed, self.beginning, self.end
        )
    }
}

impl Collector<'_> {
    /// Steps 1 and 2: which files exist now, and what each look means.
    /// Known files are matched first, then the known files no longer seen
    /// are accounted for (a rotated-away file is found among its siblings),
    /// and only then are new files taken on, so that a rotated file is in
    /// place to go before its successor.
    pub(super) fn identify(&mut self) {
        let rebuilt = self.expand();
        if rebuilt || self.looking.watch.is_stale() {
            for seq in self.looking.watch.rebuild(&self.looking.found) {
                self.unsettle(seq);
            }
        } else {
            self.settle();
        }
        self.looking.looks += 1;
        let look_started = SystemTime::now();
        self.looking.listings.clear();
        let fresh = self.look_at_found();
        self.account_for_missing();
        if self.looking.first_cycle && !fresh.is_empty() {
            // Files the checkpoint names that were not found, by inode, for
            // spotting a device renumbering among the new arrivals.
            self.table.missing_by_ino = self
                .table
                .files
                .iter()
                .filter(|(_, t)| t.state() == State::Missing)
                .map(|(&seq, t)| (t.id().ino, seq))
                .collect();
        }
        for (path, look) in fresh {
            if !self.resume_moved(&path, look) {
                self.track_new(&path, look);
            }
        }
        // Files are stamped by a clock that lags the one read here by up
        // to a scheduler tick.
        const CLOCK_LAG: Duration = Duration::from_millis(20);
        self.looking.born_after = look_started
            .checked_sub(CLOCK_LAG)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
    }

    /// Step 1: expands the PATH patterns; returns whether the list of paths
    /// changed. Directory problems are warned about once; one that is not
    /// an absence leaves what was there unknown.
    fn expand(&mut self) -> bool {
        self.check_excludes();
        let rebuilt = discover::expand(
            &self.specs,
            &mut self.looking.found,
            &mut self.looking.problems,
            &mut self.looking.dir_cache,
        );
        for pattern in self.looking.dir_cache.take_newly_unmatched() {
            if self.looking.dir_cache.only_excluded(&pattern) {
                log::warn!(
                    "{} matches only files the excludes take out; watching for others",
                    show(&pattern)
                );
            } else {
                log::warn!("{} matches no file (yet); watching for it", show(&pattern));
            }
        }
        for notice in self.looking.dir_cache.take_notices() {
            log::warn!("{notice}");
        }
        self.looking.unknown.clear();
        for p in std::mem::take(&mut self.looking.problems) {
            self.warn_once(
                &p.dir,
                format!("cannot read directory {}: {}", show(&p.dir), p.error),
            );
            // A directory that is gone takes its files with it; one that
            // cannot be read says nothing about them.
            if !is_absence(&p.error) {
                self.looking.unknown.insert(p.dir);
            }
        }
        rebuilt
    }

    /// Warns about excludes that can match no path the PATHs name, and about
    /// literal PATHs an exclude takes out: once for each set of settings.
    fn check_excludes(&mut self) {
        let (paths, excludes) = (&self.settings.paths, &self.settings.excludes);
        if excludes.is_empty()
            || self.looking.excludes_checked.as_ref() == Some(&(paths.clone(), excludes.clone()))
        {
            return;
        }
        let cwd = std::env::current_dir().ok();
        for warning in discover::unreachable_excludes(paths, excludes, cwd.as_deref()) {
            log::warn!("{warning}");
        }
        self.looking.excludes_checked = Some((paths.clone(), excludes.clone()));
    }

    /// Looks at each path found (the settled and unchanged ones at the cost
    /// of a stat): known files are observed, and the new ones returned, each
    /// once even when a second PATH leads to it.
    fn look_at_found(&mut self) -> Vec<(PathBuf, Look)> {
        let mut fresh_ids = IdSet::default();
        let found = std::mem::take(&mut self.looking.found);
        let mut fresh = Vec::new();
        for (i, f) in found.iter().enumerate() {
            let stat = self.looking.watch.stat(i, f);
            if let Ok(stat) = &stat {
                if self.looking.watch.unchanged(i, stat) {
                    continue;
                }
            }
            if let Some(seq) = self.looking.watch.unsettle(i) {
                self.unsettle(seq);
            }
            let Some(look) = self.look_at(f, stat) else {
                continue;
            };
            // Each file once, even when a second PATH leads to it.
            match self.table.by_id.get(&look.id).copied() {
                Some(seq) => {
                    let t = self
                        .table
                        .files
                        .get_mut(&seq)
                        .expect("by_id names tracked files");
                    if t.is_settled() {
                        // Its slot comes later in this look; from the next
                        // look on, this path is the first to it.
                        self.looking.watch.invalidate();
                    } else if t.seen(self.looking.looks, &f.path) {
                        self.looking.watch.looked(i, &look);
                        self.look_again(seq, &f.path, look);
                    } else {
                        self.looking.watch.shared(seq);
                    }
                }
                None if fresh_ids.insert(look.id) => {
                    self.looking.watch.looked(i, &look);
                    fresh.push((f.path.clone(), look))
                }
                None => {}
            }
        }
        self.looking.found = found;
        fresh
    }

    /// Settles the files looked at in full in the last look that had
    /// nothing left to do by its end (see watch.rs): each reached from one
    /// slot only, at its own path, with the size that slot saw.
    fn settle(&mut self) {
        for (i, id, size) in self.looking.watch.candidates() {
            let Some(&seq) = self.table.by_id.get(&id) else {
                continue;
            };
            if self.looking.watch.is_shared(seq) {
                continue;
            }
            let Some(t) = self.table.files.get_mut(&seq) else {
                continue;
            };
            if t.can_settle() && t.size() == size && t.path() == self.looking.found[i].path {
                t.settle();
                self.looking.watch.settle(i, seq);
                self.table.unsettled.remove(&seq);
            }
        }
        self.looking.watch.end_settling();
    }

    /// File `seq` takes the full look again.
    fn unsettle(&mut self, seq: u64) {
        if let Some(t) = self.table.files.get_mut(&seq) {
            t.unsettle();
            self.table.unsettled.insert(seq);
        }
    }

    /// Stats a path found this cycle. None for what is not followed: a path
    /// that is absent or cannot be stat-ed (the latter noted as unknown, not
    /// absent), one that is not a regular file, and what the collector writes
    /// (the output, the stats file, the state dir's files). Problems
    /// with a literal PATH are warned about once.
    fn look_at(&mut self, f: &Found, stat: io::Result<Stat>) -> Option<Look> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let stat = match (&f.at, stat) {
            // Looked up in its directory: the whole path tells where that failed.
            (Some(_), Err(_)) => fs::metadata(&f.path).map(|m| Stat::of(&m)),
            (_, stat) => stat,
        };
        let stat = match stat {
            Ok(stat) => stat,
            Err(e) => {
                let absent = is_absence(&e);
                if !absent {
                    // Not a sign that the file is gone: nothing is known.
                    self.looking.unknown.insert(f.path.clone());
                }
                if f.literal {
                    let what = if absent {
                        "does not exist (yet); watching for it".to_string()
                    } else {
                        format!("cannot be read: {e}; retrying")
                    };
                    self.warn_once(&f.path, format!("{} {what}", show(&f.path)));
                }
                return None;
            }
        };
        if stat.kind != Kind::Regular {
            if f.literal {
                let what = match stat.kind {
                    Kind::Directory => "is a directory",
                    Kind::Fifo => "is a FIFO",
                    _ => "is not a regular file",
                };
                self.warn_once(&f.path, format!("{} {what}; skipped", show(&f.path)));
            }
            return None;
        }
        // Reading what the collector writes would feed it back into itself.
        // Its files are looked up once a look, and only when a path is
        // looked at in full: an idle look does without.
        if self.own.not_followed_in != self.looking.looks {
            self.own.not_followed_in = self.looking.looks;
            self.own.not_followed.clear();
            self.own
                .not_followed
                .extend(self.own.output_id.map(|id| (id, "the output file")));
            self.own.not_followed.extend(
                self.own.not_to_follow.iter().filter_map(|(path, what)| {
                    Some((FileId::of(&fs::metadata(path).ok()?), *what))
                }),
            );
        }
        if let Some((_, what)) = self.own.not_followed.iter().find(|(id, _)| *id == stat.id) {
            let message = format!("{} is {what}; not followed", show(&f.path));
            self.warn_once(&f.path, message);
            return None;
        }
        Some(Look {
            id: stat.id,
            size: stat.size,
            born: stat.born,
            changed: stat.changed,
        })
    }

    /// Known files not seen at any watched path this cycle. An open one is
    /// drained through its descriptor. A closed one (and, at start-up, each
    /// file the checkpoint names) is looked for among its path's siblings
    /// (`app.log.1`, `app.log-20261124`): rotated while closed, or while the
    /// collector was stopped, it is drained from its offset. A file whose
    /// path or directory could not be read this cycle is left as it is.
    pub(super) fn account_for_missing(&mut self) {
        let mut lookups = Vec::new();
        let mut events = Vec::new();
        // Settled files were seen.
        for &seq in &self.table.unsettled {
            let Some(t) = self.table.files.get_mut(&seq) else {
                continue;
            };
            if t.was_seen_in(self.looking.looks) {
                continue;
            }
            let unknown = !self.looking.unknown.is_empty()
                && [t.path(), t.seen_at()].iter().any(|p| {
                    self.looking.unknown.contains(*p) || self.looking.unknown.contains(dir_of(p))
                });
            // Still at its own path: a reload took it out of what is watched.
            let unwatched = || {
                t.state() == State::Following
                    && !t.moved()
                    && fs::metadata(t.path()).is_ok_and(|m| FileId::of(&m) == t.id())
            };
            let observation = if unknown {
                Observation::Unknown
            } else if unwatched() {
                Observation::Unwatched
            } else {
                Observation::NotSeen
            };
            match t.observe(&observation, self.looking.first_cycle) {
                Next::LookBeside => lookups.push(seq),
                Next::Done(done) => events.extend(done),
                // Not answers to "not seen".
                Next::CheckHead | Next::Replaced => {}
            }
        }
        self.emit(events);
        for seq in lookups {
            let sibling = self.find_sibling(seq);
            let t = self.table.files.get_mut(&seq).expect("listed above");
            match t.observe(&Observation::Beside(sibling), self.looking.first_cycle) {
                Next::Done(events) => self.emit(events),
                // Not answers to a search beside the path.
                Next::LookBeside | Next::CheckHead | Next::Replaced => {}
            }
        }
    }

    /// Looks for file `seq` among the entries of its directory whose names
    /// start with its file name; returns the path, an open descriptor and the
    /// size if it is there with the same identity and head.
    pub(super) fn find_sibling(&mut self, seq: u64) -> Sibling {
        let Some(t) = self.table.files.get(&seq) else {
            return Sibling::Absent;
        };
        let (id, born, fingerprint, offset) = (t.id(), t.born(), t.fingerprint(), t.offset());
        // Where it was last seen (a generation taken on beside the path),
        // where a symlinked PATH pointed, then the siblings of the name.
        let seen_at = t.seen_at().to_path_buf();
        let mut candidates: Vec<PathBuf> = Vec::new();
        if seen_at != t.path() {
            candidates.push(seen_at.clone());
        }
        candidates.extend(t.target().map(Path::to_path_buf));
        // A directory that cannot be listed is not an empty one.
        let listed = match self.siblings(&seen_at) {
            Some(siblings) => {
                candidates.extend(siblings);
                true
            }
            None => false,
        };
        for candidate in candidates {
            let Ok(meta) = fs::metadata(&candidate) else {
                continue;
            };
            if FileId::of(&meta) != id
                || born.is_some() && identity::born(&meta).is_some_and(|b| Some(b) != born)
            {
                continue;
            }
            // The head is checked through a descriptor that is not kept: a mass
            // rotation must not use up the descriptors. One that cannot be
            // opened (out of descriptors) is not taken for absent.
            let Ok(file) = identity::open_for_reading(&candidate) else {
                return Sibling::Unknown;
            };
            let size = meta.len();
            match identity::recheck(&file, size, fingerprint) {
                Ok(Some(_)) => {
                    let after_cut =
                        offset > 0 && byte_before(&file, offset, size).is_some_and(|b| b != b'\n');
                    return Sibling::Found {
                        path: candidate,
                        size,
                        after_cut,
                    };
                }
                Ok(None) => {}
                Err(_) => return Sibling::Unknown,
            }
        }
        if listed {
            Sibling::Absent
        } else {
            Sibling::Unknown
        }
    }

    /// The entries beside `path` whose names start with its file name
    /// (`app.log.1`, `app.log-20261124`), compressed ones left out. The
    /// directory is read at most once a cycle. None if it cannot be read.
    pub(super) fn siblings(&mut self, path: &Path) -> Option<Vec<PathBuf>> {
        let Some(name) = path.file_name().map(|n| n.as_encoded_bytes().to_vec()) else {
            return Some(Vec::new());
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !self.looking.listings.contains_key(&dir) {
            // A failure is not cached: the next look tries again.
            let names = discover::list(&dir).ok()?;
            self.looking.listings.insert(dir.clone(), names);
        }
        let listing = &self.looking.listings[&dir];
        Some(
            listing
                .iter()
                .filter(|entry| entry.len() > name.len() && entry.starts_with(&name))
                .filter(|entry| !discover::is_compressed(entry))
                .map(|entry| path.with_file_name(std::ffi::OsStr::from_bytes(entry)))
                .collect(),
        )
    }

    /// Generations of `path` that were created and rotated away between two
    /// looks (app.log -> app.log.1 -> app.log.2 within one interval, or while
    /// the collector was stopped), after `p`, the file last followed there:
    /// the siblings `tracker::generation` takes for generations. They are
    /// taken on, oldest first, before the new file; one on the inode of a
    /// file known but no longer followed replaces that file.
    pub(super) fn track_between(&mut self, path: &Path, mut p: Predecessor) {
        // Born before the last look: there then, and no generation since.
        let since = self.looking.born_after.unwrap_or(0);
        p.bounds = p.bounds.map(|(after, before)| (after.max(since), before));
        let mut between = Vec::new();
        for candidate in self.siblings(path).unwrap_or_default() {
            let Ok(meta) = fs::metadata(&candidate) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let (id, born, size) = (FileId::of(&meta), identity::born(&meta), meta.len());
            let known = (self.table.by_id.get(&id)).and_then(|seq| self.table.files.get(seq));
            // The head is read only when the answer depends on it.
            let mut file = None;
            let mut starts_like = |fingerprint| {
                if file.is_none() {
                    file = Some(open_verified(&candidate, id)?);
                }
                let file = file.as_ref()?;
                Some(matches!(
                    identity::recheck(file, size, fingerprint),
                    Ok(Some(_))
                ))
            };
            let recycled =
                match tracker::generation(born, known.map(|t| &**t), &p, &mut starts_like) {
                    Generation::No => continue,
                    Generation::Unseen => false,
                    Generation::OnKnownInode => true,
                };
            let look = Look {
                id,
                size,
                born,
                changed: identity::changed(&meta).unwrap_or(0),
            };
            between.push((born, candidate, look, recycled));
        }
        between.sort_by_key(|(born, ..)| *born);
        for (_, at, look, recycled) in between {
            if recycled {
                log::info!(
                    "{} was deleted, and a new file there took its inode and was \
                     rotated to {} between two looks; reading that one",
                    show(path),
                    show(&at)
                );
                if let Some(seq) = self.table.by_id.get(&look.id).copied() {
                    self.forget(seq);
                }
            } else {
                log::info!(
                    "{} was created and rotated to {} between two looks; reading it",
                    show(path),
                    show(&at)
                );
            }
            self.track_at(path, &at, look);
        }
    }

    /// A file known from the checkpoint, found again at start-up at its own
    /// path on a device with another number (an NFS remount, an LVM change)
    /// but with the same inode, birth time and head: resumed with a warning
    /// instead of being read again.
    pub(super) fn resume_moved(&mut self, path: &Path, look: Look) -> bool {
        if !self.looking.first_cycle {
            return false;
        }
        let moved = self
            .table
            .missing_by_ino
            .get(&look.id.ino)
            .and_then(|&seq| Some((seq, self.table.files.get(&seq)?)));
        let Some((seq, t)) = moved.filter(|(_, t)| {
            t.state() == State::Missing
                && t.id().dev != look.id.dev
                && t.path() == path
                && t.born() == look.born
        }) else {
            return false;
        };
        let fingerprint = t.fingerprint();
        let Some(file) = open_verified(path, look.id) else {
            return false;
        };
        if !matches!(
            identity::recheck(&file, look.size, fingerprint),
            Ok(Some(_))
        ) {
            return false;
        }
        let t = self.table.files.get_mut(&seq).expect("found above");
        log::warn!(
            "{}: same inode and content on another device number ({} -> {}); \
             resuming at offset {} (remounted?)",
            show(path),
            t.id().dev,
            look.id.dev,
            t.offset()
        );
        self.table.by_id.remove(&t.id());
        t.observe(&Observation::Remounted { id: look.id }, true)
            .events();
        t.seen(self.looking.looks, path);
        self.table.by_id.insert(look.id, seq);
        self.look_again(seq, path, look);
        true
    }

    /// A known file seen again at `path`.
    pub(super) fn look_again(&mut self, seq: u64, path: &Path, look: Look) {
        let first = self.looking.first_cycle;
        let Some(t) = self.table.files.get_mut(&seq) else {
            return;
        };
        let seen = Observation::Seen {
            size: look.size,
            born: look.born,
        };
        // What a copy made of it while stopped would start like, and where.
        let before = (t.state(), t.fingerprint(), t.offset(), t.copies_until());
        let (next, reappeared) = match t.observe(&seen, first) {
            Next::CheckHead => {
                let Some(reappeared) = self.reappeared(seq, path, look) else {
                    return;
                };
                let t = self.table.files.get_mut(&seq).expect("looked at above");
                (t.observe(&reappeared, first), true)
            }
            next => (next, false),
        };
        match next {
            Next::Replaced => self.replace_recycled(seq, path, look),
            Next::Done(events) => {
                let truncated = events.contains(&Event::Truncation);
                self.emit(events);
                if reappeared {
                    self.warned.remove(path);
                }
                // Truncated while the collector was stopped: what its copy
                // holds past the offset goes first. Files are read in the
                // order of their sequence numbers: the file is taken on again
                // after its copy.
                if let (true, (State::Missing, fingerprint, offset, until)) = (truncated, before) {
                    if let Some(copy) = self.copy_beside(path, fingerprint, offset, until) {
                        if let Some(t) = self.table.remove(seq) {
                            self.insert(copy);
                            self.insert(*t);
                        }
                    }
                }
            }
            // Not an answer to a look at its path.
            Next::LookBeside | Next::CheckHead => {}
        }
    }

    /// A file from the checkpoint (or retired) seen at `path` again, looked
    /// at through a descriptor opened now: on NFS an open revalidates the
    /// attributes a stat may have had cached, and a size below the offset
    /// here is taken for a truncation. None when it cannot be opened or read
    /// (warned once, retried).
    fn reappeared(&mut self, seq: u64, path: &Path, look: Look) -> Option<Observation> {
        let Some(file) = open_verified(path, look.id) else {
            self.warn_once(path, format!("cannot open {}; retrying", show(path)));
            return None;
        };
        let t = self.table.files.get(&seq)?;
        let checked = file.metadata().and_then(|meta| {
            let size = meta.len();
            let head = match identity::recheck(&file, size, t.fingerprint())? {
                Some(fp) => HeadCheck::Same(fp),
                None => HeadCheck::Other(identity::fingerprint(&file, size)?),
            };
            Ok(Observation::Reappeared {
                size,
                born: look.born,
                head,
                byte_before: byte_before(&file, t.offset(), size),
                changed: identity::changed(&meta),
            })
        });
        match checked {
            Ok(observation) => Some(observation),
            Err(e) => {
                self.unreadable(path, e);
                None
            }
        }
    }

    /// A file from the checkpoint, found truncated at `path` at
    /// start-up: copytruncate ran while the collector was stopped. The copy
    /// beside it (starting as the file did, longer than the checkpointed
    /// offset) holds what was written after that offset: it is taken on at
    /// the offset, to be read before the file. `fingerprint`, `offset` and
    /// `until` (its `copies_until`) are the file's as checkpointed. Returns
    /// the copy, to be taken on.
    fn copy_beside(
        &mut self,
        path: &Path,
        fingerprint: Fingerprint,
        offset: u64,
        until: Option<u64>,
    ) -> Option<Tracked> {
        // An empty head would match every file: it tells nothing.
        if offset == 0 || fingerprint.len == 0 {
            return None;
        }
        // The newest match: older copies (earlier copytruncates, shifted to
        // higher numbers) start the same way.
        let mut copy: Option<(Option<u64>, PathBuf, fs::Metadata, bool)> = None;
        for candidate in self.siblings(path).unwrap_or_default() {
            let Ok(meta) = fs::metadata(&candidate) else {
                continue;
            };
            let (id, size, born) = (FileId::of(&meta), meta.len(), identity::born(&meta));
            // Born before the last truncation seen: a copy read before.
            let older = born.zip(until).is_some_and(|(b, until)| b <= until);
            if !meta.is_file() || size <= offset || older || self.table.by_id.contains_key(&id) {
                continue;
            }
            if copy.as_ref().is_some_and(|(newest, ..)| born <= *newest) {
                continue;
            }
            let Some(file) = open_verified(&candidate, id) else {
                continue;
            };
            if !matches!(identity::recheck(&file, size, fingerprint), Ok(Some(_))) {
                continue;
            }
            let after_cut = byte_before(&file, offset, size).is_some_and(|b| b != b'\n');
            copy = Some((born, candidate, meta, after_cut));
        }
        let (born, at, meta, after_cut) = copy?;
        log::info!(
            "{} was copied to {} and truncated while the collector was stopped \
             (copytruncate); reading the copy from offset {offset} first",
            show(path),
            show(&at)
        );
        let (id, size) = (FileId::of(&meta), meta.len());
        let copy = Tracked::new(
            id,
            path.to_path_buf(),
            self.settings.format,
            fingerprint,
            offset,
        )
        .taken_on(size, born, &at, None, None)
        .resumed_after_cut(after_cut);
        Some(copy)
    }

    /// Same inode, other content: the file we knew was deleted and its inode
    /// reused, or it was truncated and rewritten. What it still held is not
    /// delivered; the file there now is read from 0.
    pub(super) fn replace_recycled(&mut self, seq: u64, path: &Path, look: Look) {
        let newest = self.table.latest_by_path.get(path) == Some(&seq);
        let Some(t) = self.forget(seq) else {
            return;
        };
        log::debug!("{} is a new file on a recycled inode", show(path));
        // Generations created and rotated away after the newest file followed
        // at the path (between two looks, or while stopped) go first: when
        // that was the file known on the inode, forgotten just now, it is
        // still their predecessor.
        if newest {
            self.track_between(path, after(&t, look));
            self.track_at(path, path, look);
        } else {
            self.track_new(path, look);
        }
        let changed = fs::metadata(path).ok().and_then(|m| identity::changed(&m));
        if let Some(new) = self
            .table
            .by_id
            .get(&look.id)
            .and_then(|seq| self.table.files.get_mut(seq))
        {
            new.succeeds(&t, changed);
        }
    }

    /// Stops tracking file `seq` (another file took its inode, or it was
    /// retired long enough ago): what it still held is lost. Returns it.
    pub(super) fn forget(&mut self, seq: u64) -> Option<Box<Tracked>> {
        let t = self.table.remove(seq)?;
        self.emit(t.forget());
        self.commits.dirty = true;
        Some(t)
    }

    /// A file not tracked yet: decide where it starts and track it.
    pub(super) fn track_new(&mut self, path: &Path, look: Look) {
        // Generations this file's predecessor was followed by without our
        // seeing them go first.
        let predecessor = self
            .table
            .latest_by_path
            .get(path)
            .and_then(|p| self.table.files.get(p))
            .map(|p| after(p, look));
        if let Some(p) = predecessor {
            self.track_between(path, p);
        }
        self.track_at(path, path, look);
    }

    /// Takes on the file at `at`, followed under the name `path`.
    pub(super) fn track_at(&mut self, path: &Path, at: &Path, look: Look) {
        let (id, size) = (look.id, look.size);
        if self.table.by_id.contains_key(&id) {
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
        let history = self.table.history.contains(path);
        let start = tracker::start(self.looking.first_cycle, self.settings.from_end, history);
        let offset = match start {
            Start::Beginning => 0,
            Start::End => match end_of_last_line(&file, size) {
                Ok(offset) => offset,
                Err(e) => return self.unreadable(path, e),
            },
        };
        // A symlinked PATH: where it points now is where to look once it
        // points elsewhere.
        let target = fs::symlink_metadata(at)
            .is_ok_and(|m| m.file_type().is_symlink())
            .then(|| fs::canonicalize(at).ok())
            .flatten();
        // The lines an older file of the same path holds now go out first.
        let predecessor = self
            .table
            .latest_by_path
            .get(path)
            .and_then(|&pseq| Some((pseq, self.table.files.get(&pseq)?)))
            .filter(|(_, p)| p.is_active());
        let waits_for = predecessor.map(|(pseq, p)| {
            let psize = p
                .file()
                .and_then(|f| f.metadata().ok())
                .map_or(p.size(), |m| m.len());
            (pseq, psize)
        });
        if waits_for.is_some() {
            self.stats.rotations += 1;
        }
        // The descriptor is not kept: reading opens it when its turn comes, so
        // thousands of new files do not hold thousands of descriptors at once.
        // A file that waits for its predecessor keeps it (within the budget):
        // deleted while it waits, it is still read, and its inode is not
        // given to the generation after it.
        let keep = waits_for.is_some() && self.fds.open < self.fds.max;
        let file = keep.then_some(file);
        if keep {
            self.fds.open += 1;
        }
        let mut t = Tracked::new(
            id,
            path.to_path_buf(),
            self.settings.format,
            fingerprint,
            offset,
        )
        .taken_on(size, look.born, at, target, waits_for);
        if let Some(file) = file {
            t.attach(file);
        }
        // At start-up there may be thousands: one line sums them up
        // (`FirstLook`). A file that appears later gets a line of its own.
        let level = if self.looking.first_cycle {
            match start {
                Start::Beginning => self.looking.first_look.beginning += 1,
                Start::End => self.looking.first_look.end += 1,
            }
            log::Level::Debug
        } else {
            log::Level::Info
        };
        if offset == 0 {
            log::log!(level, "following {} from the beginning", show(at));
        } else {
            log::log!(level, "following {} from offset {offset}", show(at));
        }
        self.warned.remove(at);
        self.insert(t);
    }
}

/// File `p` as the predecessor of the file seen now (`look`) at its path.
fn after(p: &Tracked, look: Look) -> Predecessor {
    // An empty head would match every file: it tells nothing.
    let heads = [Some(p.fingerprint()), p.before_truncation()].map(|fp| fp.filter(|fp| fp.len > 0));
    Predecessor {
        bounds: p.born().zip(look.born),
        heads,
        copies_until: p.copies_until(),
    }
}

/// Whether a failed stat or listing means the thing is not there (as
/// opposed to "could not be told").
fn is_absence(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

/// The directory a path is in, as pattern directories are named (`.` for a
/// bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
