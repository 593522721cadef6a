//! The parts the collector is made of, each owned by one field of
//! `Collector`, so that a step's signature and body show what it may touch:
//! the file table (identify, deliver), the looks (identify), the
//! collector's own files (identify), the commit state (the commit step and
//! the salvage of a failed output), the scratch buffers (deliver) and the
//! descriptor budget (deliver).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::checkpoint::Store;
use crate::discover::{DirCache, DirProblem, Found};
use crate::encode::Shared;
use crate::identity::{FileId, IdMap};
use crate::output::Position;
use crate::tracker::Tracked;

use super::identify::FirstLook;
use super::salvage::Marks;
use super::watch::Watch;

/// Every file the collector knows, and the indexes over them.
#[derive(Default)]
pub(super) struct FileTable {
    /// Tracked files by sequence number: the order they were first seen in,
    /// which is the order they are read in.
    pub files: BTreeMap<u64, Box<Tracked>>,
    pub by_id: IdMap<u64>,
    /// The newest file followed under each path: the predecessor of the next.
    pub latest_by_path: HashMap<Rc<Path>, u64>,
    /// Files not found since start-up, by inode (see `resume_moved`).
    pub missing_by_ino: HashMap<u64, u64>,
    pub next_seq: u64,
    /// The tracked files that are not settled (see watch.rs): the only ones
    /// the per-file steps visit.
    pub unsettled: BTreeSet<u64>,
    /// Paths named in the checkpoint at start-up (for `--from-end`).
    pub history: HashSet<PathBuf>,
}

impl FileTable {
    /// Takes on `t`, found in look number `look` (at start-up, in none yet);
    /// returns its sequence number. It is the newest file at its path.
    pub fn insert(&mut self, mut t: Tracked, look: u64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        t.seen_in(look);
        self.by_id.insert(t.id(), seq);
        self.latest_by_path.insert(t.shared_path(), seq);
        self.files.insert(seq, Box::new(t));
        self.unsettled.insert(seq);
        seq
    }

    /// Takes file `seq` out of the table and its indexes. The generation
    /// after it at its path goes after the one it waited for: forgetting a
    /// generation must not let a later one jump the queue.
    pub fn remove(&mut self, seq: u64) -> Option<Box<Tracked>> {
        let t = self.files.remove(&seq)?;
        self.unsettled.remove(&seq);
        self.by_id.remove(&t.id());
        if self.latest_by_path.get(t.path()) == Some(&seq) {
            match t
                .waits_for()
                .filter(|(pseq, _)| self.files.contains_key(pseq))
            {
                Some((pseq, _)) => self.latest_by_path.insert(t.shared_path(), pseq),
                None => self.latest_by_path.remove(t.path()),
            };
        }
        Some(t)
    }
}

/// What the looks at the PATHs found, and what they keep between cycles.
pub(super) struct Looking {
    /// The paths the PATHs expand to this cycle.
    pub found: Vec<Found>,
    /// The last stat of each found path, for the idle fast path.
    pub watch: Watch,
    /// Directories that could not be read in this cycle's expansion.
    pub problems: Vec<DirProblem>,
    pub dir_cache: DirCache,
    /// Cycles' looks so far: a tracked file's `seen_in` equals this once it
    /// was found in the current one.
    pub looks: u64,
    /// Directory listings made this cycle to look for rotated files.
    pub listings: HashMap<PathBuf, Vec<Vec<u8>>>,
    /// Paths and directories that could not be read this cycle: a file
    /// there that was not seen is not known to be gone.
    pub unknown: HashSet<PathBuf>,
    /// The first look since start-up is under way.
    pub first_cycle: bool,
    pub first_look: FirstLook,
    /// The earliest birth time (ns) a generation created and rotated away
    /// since the last look can have: a sibling born before was there then.
    /// At start-up the time the checkpoint was saved; later the start of
    /// the previous look, less the lag of the clock the kernel stamps files
    /// with.
    pub born_after: Option<u64>,
    /// The PATHs and excludes last checked for excludes that can match
    /// nothing (at start-up and after a reload changed them).
    pub excludes_checked: Option<(Vec<PathBuf>, Vec<PathBuf>)>,
}

/// What the collector writes itself, never to be read as input.
pub(super) struct OwnFiles {
    /// The output file's identity (see `not_followed`).
    pub output_id: Option<FileId>,
    /// The look `not_followed` was made for.
    pub not_followed_in: u64,
    /// What the collector writes, as of this cycle: the output, the stats
    /// file and the state dir's files (replaced files get new identities).
    pub not_followed: Vec<(FileId, &'static str)>,
    /// The paths of the stats file and the state dir's files (the settings
    /// name them; built once, and again on reload).
    pub not_to_follow: Vec<(PathBuf, &'static str)>,
}

/// Where the output and the checkpoint stand, and how saving goes.
pub(super) struct Commits {
    pub store: Store,
    /// Something the checkpoint records changed since the last save.
    pub dirty: bool,
    /// The output's length as of the last saved checkpoint (file output).
    pub committed_output: Option<u64>,
    /// Since when writes to the output fail, and where it stood after the
    /// last recovery: it works again only once lines got past that.
    pub write_failing: Option<(Instant, Position)>,
    /// The last checkpoint save failed, as this says: until one works,
    /// the run ends in failure.
    pub save_failed: Option<String>,
    pub retry_delay: Duration,
    /// When a checkpoint was last saved (or found nothing to save).
    pub committed_at: Instant,
    /// What went out since the last checkpoint, for a failed output (salvage.rs).
    pub marks: Marks,
}

/// Buffers reused from cycle to cycle.
pub(super) struct Scratch {
    /// The files with work this cycle, in the order they are read.
    pub order: Vec<u64>,
    /// What is read from a file.
    pub buf: Vec<u8>,
    /// What one split of `buf` found: (is a piece, where).
    pub spans: Vec<(bool, std::ops::Range<usize>)>,
    /// Encoded lines waiting to be written out.
    pub batch: Vec<u8>,
    /// The start of every json record: host and fields as the settings say,
    /// and the time of the read being encoded.
    pub shared: Shared,
}

/// Descriptors held by followed files now, and the most they may hold.
pub(super) struct Descriptors {
    pub open: usize,
    pub max: usize,
}
