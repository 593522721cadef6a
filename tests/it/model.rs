//! A model-based property test: random sequences of what happens to one log
//! file (`app.log`, followed literally) are run against a real temp dir, with
//! `--once -o out.txt` as the read step, and after every run the output must
//! equal, byte for byte, what a model of the documented behaviour says has
//! been delivered so far. Independently of the model, the line numbers in
//! the output must increase (no line twice, no older file's line after a
//! newer one's).
//!
//! The writer behaves like an application with a "watched" log handler: each
//! burst of lines opens `app.log` (creating it after a rotation or a delete),
//! and a line written in two halves gets its second half through the
//! descriptor that wrote the first, wherever that file is by then (renamed
//! away, deleted, or truncated in place by copytruncate).
//!
//! The model knows every file the test made (its inode and birth time, read
//! from the disk, and its content) and keeps a checkpoint of its own: per
//! file followed, its identity (inode, birth time where the filesystem keeps
//! one, head: the first bytes up to 1 KiB as far as seen), the bytes
//! delivered and its size when last seen. A run (see `Collector::run`)
//! resumes the file at `app.log` if it is the checkpointed one (else reads it
//! from 0), drains each other followed file from where it stopped if it is
//! found beside the path (`app.log.N`), a final partial line with a newline
//! appended, and then lets it go; older files first.
//!
//! What that loses, as documented: the unread rest of a file deleted (or
//! rotated past the three kept) before a run read it; for copytruncate of a
//! file whose head is unknown (nothing of it read yet), what was written
//! since the last run (it is only in the copy); the second half of a line whose first half went out with a newline
//! added when its file was drained; and a file that was never at `app.log`
//! while a run looked (rotated twice between runs: a literal path shows the
//! collector only the current file, and only files it followed are looked
//! for among the siblings).
//!
//! A crash is a run whose checkpoint is thrown away afterwards (as if killed
//! just before saving it): the output then holds more than the model's
//! delivered bytes, and the next run must cut it back and send those lines
//! again, exactly once.
//!
//! `LOG_COLLECTOR_MODEL_CASES` sets the number of cases (default 48) and
//! `LOG_COLLECTOR_MODEL_SEED` the seed (printed); a failure shows the shrunk
//! step sequence, the trace of what the model did, and where the output
//! differs.

use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use crate::util::*;

/// The followed path.
const LIVE: &str = "app.log";
/// Rotated files kept: `app.log.1` .. `app.log.3`; the oldest is deleted.
const KEPT: usize = 3;
/// The collector's arguments besides `--once` (and the state dir).
const ARGS: &[&str] = &["-o", "out.txt", LIVE];
/// Every line starts with a unique tag `g<file:3>-<line:5>` of this length.
const TAG: usize = 10;
/// The fingerprint covers this much of a file's head.
const HEAD: usize = 1024;

/// One thing that happens. Pads are the lengths of the lines' padding;
/// `cut` places the split of a half-written line (per mille).
#[derive(Clone)]
enum Step {
    /// Complete lines appended to `app.log` (created if missing).
    Append(Vec<u16>),
    /// Complete lines, then the first half of one more; the second half is
    /// written by the next append, through the same descriptor.
    Partial { pads: Vec<u16>, last: u16, cut: u16 },
    /// Shift `app.log.N` to `app.log.N+1` (deleting the last), rename
    /// `app.log` to `app.log.1`; the next append creates a new `app.log`.
    Rotate,
    /// Shift, copy `app.log` to `app.log.1`, truncate `app.log` in place.
    CopyTruncate,
    /// Remove `app.log`.
    Delete,
    /// Remove `app.log`, write complete lines to a new one (which ext4
    /// usually gives the freed inode number), and rotate that away too: one
    /// generation on a recycled inode that no run sees at `app.log`.
    Recycle(Vec<u16>),
    /// Create an empty `app.log` if there is none.
    Recreate,
    /// `--once`.
    Run,
    /// A clean restart: another `--once` (every run is a new process).
    Restart,
    /// `--once` killed before its checkpoint was saved: the checkpoint is put
    /// back as it was before the run.
    Crash,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Append(pads) => write!(f, "Append{pads:?}"),
            Step::Partial { pads, last, cut } => {
                write!(f, "Partial{pads:?}+half(pad {last}, cut {cut}‰)")
            }
            Step::Rotate => f.write_str("Rotate"),
            Step::CopyTruncate => f.write_str("CopyTruncate"),
            Step::Delete => f.write_str("Delete"),
            Step::Recycle(pads) => write!(f, "Recycle{pads:?}"),
            Step::Recreate => f.write_str("Recreate"),
            Step::Run => f.write_str("Run"),
            Step::Restart => f.write_str("Restart"),
            Step::Crash => f.write_str("Crash"),
        }
    }
}

fn pads(n: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u16>> {
    prop::collection::vec(0u16..300, n)
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => pads(1..=4).prop_map(Step::Append),
        2 => (pads(0..=2), 0u16..300, 0u16..=1000)
            .prop_map(|(pads, last, cut)| Step::Partial { pads, last, cut }),
        2 => Just(Step::Rotate),
        1 => Just(Step::CopyTruncate),
        1 => Just(Step::Delete),
        1 => Just(Step::Recreate),
        1 => pads(1..=3).prop_map(Step::Recycle),
        4 => Just(Step::Run),
        1 => Just(Step::Restart),
        2 => Just(Step::Crash),
    ]
}

/// Line `n`, written to file `fid`: `g<fid>-<n> <pad>\n`.
fn line(fid: usize, n: usize, pad: u16) -> Vec<u8> {
    let mut l = format!("g{fid:03}-{n:05} ").into_bytes();
    l.extend((0..usize::from(pad)).map(|i| b'a' + ((n * 7 + i * 3) % 26) as u8));
    l.push(b'\n');
    l
}

/// Where a half-written line is split: the first half holds at least the
/// tag, the second at least the newline. (A first half of a byte or two
/// would be a head that other files start with too: two files the
/// documented identity cannot tell apart where there is no birth time.)
fn split_at(len: usize, cut: u16) -> usize {
    TAG + (len - 1 - TAG) * usize::from(cut) / 1000
}

/// What tells a file from another on disk: its inode, and its birth time
/// where the filesystem keeps one (a recycled inode has a new one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Id {
    ino: u64,
    born: Option<u128>,
}

impl Id {
    fn of(meta: &Metadata) -> Id {
        let born = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos());
        Id {
            ino: meta.ino(),
            born,
        }
    }

    fn at(path: &Path) -> Id {
        Id::of(&fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display())))
    }
}

/// A file as the model knows it. Truncated in place by copytruncate, a
/// file goes on as a new one in the model (same `Id`, new content), so
/// that line tags tell the two apart.
#[derive(Clone, Debug)]
struct MFile {
    id: Id,
    /// `app.log` or `app.log.N`; `None` once deleted or truncated.
    name: Option<String>,
    content: Vec<u8>,
    /// A copytruncate copy (for the trace).
    copy: bool,
}

/// The files on disk, as the model knows them.
#[derive(Clone, Debug, Default)]
struct World {
    files: Vec<MFile>,
    live: Option<usize>,
    /// `app.log.1` ..
    rotated: [Option<usize>; KEPT],
}

/// A file some run followed, as the checkpoint remembers it.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    id: Id,
    /// The head of the file this entry replaced on the same inode (a
    /// copytruncate): a copy that starts like it is no generation of its own.
    prior_head: Option<Vec<u8>>,
    /// With `prior_head`: the change time of `app.log` (ns) when that was
    /// seen; a file beside it born no later is a copy made before, not a
    /// later generation.
    copies_until: Option<u128>,
    /// Its first bytes (up to 1 KiB) as far as they were seen.
    head: Vec<u8>,
    /// Bytes of it delivered.
    offset: usize,
    /// Its size when last seen.
    size: usize,
    /// Fully delivered and let go: not looked for any more.
    retired: bool,
    /// The model's file it was last matched to (for the trace).
    fid: usize,
}

/// What the collector has delivered and remembers (its checkpoint), in the
/// order it first followed the files.
#[derive(Clone, Debug, Default, PartialEq)]
struct Collector {
    entries: Vec<Entry>,
    delivered: Vec<u8>,
}

/// The copytruncate copy of entry `e`'s file beside the path: a file no
/// entry names, born after the last truncation seen, that starts like the
/// file and is longer than its offset; the newest of them.
fn copy_of(e: &Entry, w: &World, entries: &[Entry]) -> Option<usize> {
    if e.offset == 0 || e.head.is_empty() {
        return None;
    }
    w.rotated
        .iter()
        .flatten()
        .copied()
        .filter(|&fid| {
            let f = &w.files[fid];
            let older =
                f.id.born
                    .zip(e.copies_until)
                    .is_some_and(|(b, until)| b <= until);
            !older
                && f.content.len() > e.offset
                && f.content.starts_with(&e.head)
                && !entries.iter().any(|x| x.id.ino == f.id.ino)
        })
        .max_by_key(|&fid| w.files[fid].id.born)
}

/// Whether a file is the one an entry names: same inode, same birth time
/// where both are known, and the head seen so far unchanged.
fn is_file(e: &Entry, f: &MFile) -> bool {
    e.id.ino == f.id.ino && same_birth(e.id, f.id) && f.content.starts_with(&e.head)
}

fn same_birth(a: Id, b: Id) -> bool {
    match (a.born, b.born) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The change time of the file at `path` in ns, as the collector sees it.
fn changed_at(path: &Path) -> Option<u128> {
    let meta = fs::metadata(path).ok()?;
    let ns = i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec());
    u128::try_from(ns).ok()
}

fn head_of(content: &[u8]) -> Vec<u8> {
    content[..content.len().min(HEAD)].to_vec()
}

impl Collector {
    /// One `--once` run: returns what it writes, and notes for the trace.
    ///
    /// 1. The file at `app.log`, if it is the file of an entry, is resumed at
    ///    that entry's offset; the same file truncated in place (same inode
    ///    and birth, another head) is read from 0 after the rest of its
    ///    copy beside it (`copy_of`); another file on an entry's inode
    ///    (recycled) replaces the entry and is read from 0, as is a file no
    ///    entry names. Generations born after the checkpoint was saved
    ///    (`saved_at`) and after the newest file followed, before the file
    ///    at `app.log`, go before it.
    /// 2. Each other entry not let go is looked for among `app.log.N` by its
    ///    identity. Found, it is drained from its offset to its end, a final
    ///    partial line with a newline added, and let go. Not found, it is
    ///    let go if it was fully delivered when last seen, else kept (what it
    ///    held after its offset is lost unless it turns up again).
    /// 3. The files go out in the order they were first followed; the file
    ///    at `app.log` gives its complete lines only.
    ///
    /// A file beside the path is taken for an entry only by its whole
    /// identity: a file on a recycled inode whose start is the head of a
    /// checkpointed file, but whose birth time differs, is another file.
    fn run(
        &mut self,
        w: &World,
        live_path: &Path,
        saved_at: Option<u128>,
        notes: &mut Vec<String>,
    ) -> Vec<u8> {
        let live = w.live.map(|fid| (fid, &w.files[fid]));
        let mut at_live = None;
        let mut replaced_head = None;
        let mut replaced_until = None;
        let mut replaced_newest: Option<Entry> = None;
        if let Some((fid, f)) = live {
            if let Some(i) = self.entries.iter().position(|e| e.id.ino == f.id.ino) {
                let e = &mut self.entries[i];
                if is_file(e, f) {
                    if e.fid != fid {
                        notes.push(format!(
                            "{LIVE} (g{fid:03}) is taken for g{:03} (same identity): \
                             resumed at byte {}",
                            e.fid, e.offset
                        ));
                    }
                    e.retired = false;
                    e.id = f.id;
                    at_live = Some(i);
                } else if e.id.born.is_some() && same_birth(e.id, f.id) {
                    // Born with it: the same file, truncated in place while
                    // no run looked (copytruncate). Read from 0, after the
                    // rest of the copy beside it.
                    notes.push(format!(
                        "{LIVE} (g{fid:03}) is g{:03} truncated in place: read from 0",
                        e.fid
                    ));
                    let copy = copy_of(&self.entries[i], w, &self.entries);
                    let e = &mut self.entries[i];
                    let (head, offset) = (std::mem::take(&mut e.head), e.offset);
                    e.copies_until = changed_at(live_path).or(e.copies_until);
                    e.prior_head = Some(head.clone());
                    (e.offset, e.size, e.retired, e.id, e.fid) = (0, 0, false, f.id, fid);
                    at_live = Some(i);
                    if let Some(cfid) = copy {
                        let c = &w.files[cfid];
                        self.entries.insert(
                            i,
                            Entry {
                                id: c.id,
                                prior_head: None,
                                copies_until: None,
                                head,
                                offset,
                                size: c.content.len(),
                                retired: false,
                                fid: cfid,
                            },
                        );
                        at_live = Some(i + 1);
                    }
                } else {
                    notes.push(format!(
                        "{LIVE} (g{fid:03}) is on the inode of g{:03} but another file",
                        e.fid
                    ));
                    if same_birth(e.id, f.id) {
                        replaced_head = Some(e.head.clone());
                        replaced_until = changed_at(live_path).or(e.copies_until);
                    }
                    // The file replaced is the newest file followed: later
                    // generations are told apart from it.
                    let newest = i + 1 == self.entries.len();
                    if newest {
                        replaced_newest = Some(self.entries[i].clone());
                    }
                    self.entries.remove(i);
                }
            }
        }
        let mut gone = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if e.retired || Some(i) == at_live {
                continue;
            }
            let found = w.rotated.iter().enumerate().find_map(|(k, fid)| {
                let (fid, f) = ((*fid)?, &w.files[(*fid)?]);
                is_file(e, f).then_some((k, fid))
            });
            match found {
                Some(found) => gone.push((i, found)),
                None if e.size > e.offset => notes.push(format!(
                    "g{:03} not found: {} bytes it held are not delivered",
                    e.fid,
                    e.size - e.offset
                )),
                None => e.retired = true,
            }
        }
        // Generations created and rotated away since the newest followed file
        // without a run seeing them at app.log: born between it and the new
        // file there, they are read from 0, oldest first, before the new file.
        // A copytruncate copy is born after its original too but starts like
        // it, and is left out.
        let mut between: Vec<(u128, usize, usize)> = Vec::new();
        // Entries whose inode a generation read as between took.
        let mut replaced: Vec<usize> = Vec::new();
        let newest = replaced_newest.as_ref().or(self.entries.last());
        if let (Some((_, lf)), None, Some(p)) = (live, at_live, newest) {
            if let (Some(after), Some(before)) = (p.id.born, lf.id.born) {
                for (k, fid) in w.rotated.iter().enumerate() {
                    let Some(fid) = *fid else { continue };
                    let f = &w.files[fid];
                    let Some(b) = f.id.born else { continue };
                    let known = self.entries.iter().position(|e| e.id.ino == f.id.ino);
                    // On the inode of a file no longer followed, born later:
                    // the inode was freed and given to a new generation,
                    // rotated in turn before a run saw it at app.log.
                    let recycled = known.filter(|&i| {
                        Some(i) != at_live
                            && !gone.iter().any(|(j, _)| *j == i)
                            && !same_birth(self.entries[i].id, f.id)
                    });
                    // An empty head tells nothing (nothing was read from it).
                    let starts_like = |h: &Vec<u8>| !h.is_empty() && f.content.starts_with(h);
                    let like_p =
                        starts_like(&p.head) || p.prior_head.as_ref().is_some_and(starts_like);
                    // Born before the checkpoint was saved: there at the last run.
                    let after = after.max(saved_at.unwrap_or(0));
                    let in_bounds = known.is_none() && after <= b && b <= before;
                    let copy_before = p.copies_until.is_some_and(|until| b <= until);
                    if (in_bounds || recycled.is_some()) && !like_p && !copy_before {
                        between.push((b, k, fid));
                        replaced.extend(recycled);
                    }
                }
            }
        }
        between.sort();
        for (k, fid) in w.rotated.iter().enumerate() {
            if let Some(fid) = *fid {
                let f = &w.files[fid];
                if between.iter().any(|&(_, _, b)| b == fid) {
                    continue;
                }
                if !self.entries.iter().any(|e| is_file(e, f)) {
                    let what = if f.copy {
                        "a copy"
                    } else {
                        "not followed before"
                    };
                    notes.push(format!("{LIVE}.{} (g{fid:03}) is {what}: not read", k + 1));
                }
            }
        }
        let first_between = self.entries.len();
        for &(_, _, fid) in &between {
            let f = &w.files[fid];
            self.entries.push(Entry {
                id: f.id,
                prior_head: None,
                copies_until: None,
                head: Vec::new(),
                offset: 0,
                size: 0,
                retired: false,
                fid,
            });
        }
        let new = match (live, at_live) {
            (Some((fid, f)), None) => {
                self.entries.push(Entry {
                    id: f.id,
                    prior_head: replaced_head.take(),
                    copies_until: replaced_until.take(),
                    head: Vec::new(),
                    offset: 0,
                    size: 0,
                    retired: false,
                    fid,
                });
                Some(self.entries.len() - 1)
            }
            _ => None,
        };
        let mut out = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Some(&(_, (k, fid))) = gone.iter().find(|(j, _)| *j == i) {
                let c = &w.files[fid].content;
                // Found by its whole identity: the same file, which only grows.
                let rest = c
                    .get(e.offset..)
                    .expect("a file found by its identity is not shorter than its offset");
                out.extend_from_slice(rest);
                let partial = !rest.is_empty() && !rest.ends_with(b"\n");
                if partial {
                    out.push(b'\n');
                }
                notes.push(format!(
                    "drain {LIVE}.{} (g{fid:03}) from byte {}: {} bytes{}",
                    k + 1,
                    e.offset,
                    rest.len(),
                    if partial {
                        ", a partial line + \\n"
                    } else {
                        ""
                    },
                ));
                e.offset = c.len();
                e.size = c.len();
                e.head = head_of(c);
                e.retired = true;
                e.fid = fid;
            } else if i >= first_between && i < first_between + between.len() {
                let (_, k, fid) = between[i - first_between];
                let c = &w.files[fid].content;
                out.extend_from_slice(c);
                let partial = !c.is_empty() && !c.ends_with(b"\n");
                if partial {
                    out.push(b'\n');
                }
                notes.push(format!(
                    "read {LIVE}.{} (g{fid:03}), born between: {} bytes",
                    k + 1,
                    c.len()
                ));
                e.offset = c.len();
                e.size = c.len();
                e.head = head_of(c);
                e.retired = true;
            } else if Some(i) == at_live || Some(i) == new {
                let (fid, f) = live.expect("a file at app.log");
                let c = &f.content;
                let end = c
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                    .max(e.offset);
                notes.push(format!("read {LIVE} (g{fid:03}) bytes {}..{end}", e.offset));
                out.extend_from_slice(&c[e.offset..end]);
                e.offset = end;
                e.size = c.len();
                e.head = head_of(c);
                e.fid = fid;
            }
        }
        let mut i = 0;
        self.entries.retain(|_| {
            i += 1;
            !replaced.contains(&(i - 1))
        });
        self.delivered.extend_from_slice(&out);
        out
    }
}

/// The second half of a line, and the descriptor that wrote the first.
struct Pending {
    file: File,
    fid: usize,
    rest: Vec<u8>,
}

/// One test case: the real dir and the model side by side.
struct Case {
    s: Scenario,
    world: World,
    /// What the collector has done so far, as the model says.
    collector: Collector,
    pending: Option<Pending>,
    lines: usize,
    trace: Vec<String>,
}

fn rotated_name(k: usize) -> String {
    format!("{LIVE}.{}", k + 1)
}

impl Case {
    fn new() -> Case {
        Case {
            s: Scenario::new(),
            world: World::default(),
            collector: Collector::default(),
            pending: None,
            lines: 0,
            trace: Vec::new(),
        }
    }

    fn note(&mut self, what: String) {
        tally(&what);
        self.trace.push(format!("    {what}"));
    }

    fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Append(pads) => {
                let (mut f, fid) = self.open_live();
                let bytes = self.lines_for(fid, pads);
                f.write_all(&bytes).expect("append");
                self.world.files[fid].content.extend_from_slice(&bytes);
                self.note(format!("{} lines to g{fid:03}", pads.len()));
            }
            Step::Partial { pads, last, cut } => {
                let (mut f, fid) = self.open_live();
                let mut bytes = self.lines_for(fid, pads);
                let l = self.lines_for(fid, &[*last]);
                let at = split_at(l.len(), *cut);
                bytes.extend_from_slice(&l[..at]);
                f.write_all(&bytes).expect("append");
                self.world.files[fid].content.extend_from_slice(&bytes);
                self.note(format!(
                    "{} lines and {at} of {} bytes of one more to g{fid:03}",
                    pads.len(),
                    l.len()
                ));
                self.pending = Some(Pending {
                    file: f,
                    fid,
                    rest: l[at..].to_vec(),
                });
            }
            Step::Rotate => self.rotate(),
            Step::Recycle(pads) => {
                let freed = self.world.live.take().map(|fid| {
                    self.s.remove(LIVE);
                    self.world.files[fid].name = None;
                    self.world.files[fid].id.ino
                });
                let (mut f, fid) = self.open_live();
                let bytes = self.lines_for(fid, pads);
                f.write_all(&bytes).expect("append");
                self.world.files[fid].content.extend_from_slice(&bytes);
                let recycled = freed == Some(self.world.files[fid].id.ino);
                self.note(format!(
                    "{LIVE} deleted and written anew: g{fid:03}, {} lines, {}",
                    pads.len(),
                    if recycled {
                        "on the freed inode"
                    } else {
                        "on another inode"
                    }
                ));
                self.rotate();
            }
            Step::CopyTruncate => match self.world.live {
                None => self.note(format!("no {LIVE}: nothing to rotate")),
                Some(old) => {
                    self.shift();
                    let to = rotated_name(0);
                    self.s.copytruncate(LIVE, &to);
                    let content = self.world.files[old].content.clone();
                    let copy = self.add(Id::at(&self.s.path(&to)), &to, content, true);
                    self.world.rotated[0] = Some(copy);
                    self.world.files[old].name = None;
                    let id = self.world.files[old].id;
                    let new = self.add(id, LIVE, Vec::new(), false);
                    self.world.live = Some(new);
                    if let Some(p) = self.pending.as_mut().filter(|p| p.fid == old) {
                        p.fid = new;
                    }
                    self.note(format!(
                        "g{old:03} copied to {to} (g{copy:03}), {LIVE} truncated (g{new:03})"
                    ));
                }
            },
            Step::Delete => match self.world.live.take() {
                None => self.note(format!("no {LIVE} to delete")),
                Some(fid) => {
                    self.s.remove(LIVE);
                    self.world.files[fid].name = None;
                    self.note(format!("g{fid:03} deleted"));
                }
            },
            Step::Recreate => {
                if self.world.live.is_none() {
                    let (_, fid) = self.open_live();
                    self.note(format!("empty {LIVE} g{fid:03}"));
                } else {
                    self.note(format!("{LIVE} exists"));
                }
            }
            Step::Run | Step::Restart => self.run(false)?,
            Step::Crash => self.run(true)?,
        }
        self.check_files()
    }

    /// Shifts the rotated files and renames `app.log` to `app.log.1`.
    fn rotate(&mut self) {
        match self.world.live.take() {
            None => self.note(format!("no {LIVE}: nothing to rotate")),
            Some(fid) => {
                self.shift();
                let to = rotated_name(0);
                self.s.rename(LIVE, &to);
                self.note(format!("g{fid:03} renamed to {to}"));
                self.world.files[fid].name = Some(to);
                self.world.rotated[0] = Some(fid);
            }
        }
    }

    fn add(&mut self, id: Id, name: &str, content: Vec<u8>, copy: bool) -> usize {
        self.world.files.push(MFile {
            id,
            name: Some(name.to_string()),
            content,
            copy,
        });
        self.world.files.len() - 1
    }

    fn lines_for(&mut self, fid: usize, pads: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &pad in pads {
            self.lines += 1;
            bytes.extend_from_slice(&line(fid, self.lines, pad));
        }
        bytes
    }

    /// The writer's next burst: first the second half of a half-written line,
    /// through its descriptor; then `app.log`, opened (created) by path.
    fn open_live(&mut self) -> (File, usize) {
        if let Some(mut p) = self.pending.take() {
            p.file.write_all(&p.rest).expect("second half");
            self.world.files[p.fid].content.extend_from_slice(&p.rest);
            let at = match &self.world.files[p.fid].name {
                Some(name) => name.clone(),
                None => "a deleted file".to_string(),
            };
            self.note(format!(
                "second half ({} bytes) to g{:03} at {at}",
                p.rest.len(),
                p.fid
            ));
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.s.path(LIVE))
            .expect("open app.log");
        let id = Id::of(&f.metadata().expect("fstat"));
        let fid = match self.world.live {
            Some(fid) => {
                assert_eq!(
                    self.world.files[fid].id, id,
                    "app.log changed under the model"
                );
                fid
            }
            None => {
                let fid = self.add(id, LIVE, Vec::new(), false);
                self.world.live = Some(fid);
                self.note(format!("{LIVE} created: g{fid:03}, inode {}", id.ino));
                fid
            }
        };
        (f, fid)
    }

    /// Makes room for a new `app.log.1`.
    fn shift(&mut self) {
        if let Some(fid) = self.world.rotated[KEPT - 1].take() {
            self.s.remove(&rotated_name(KEPT - 1));
            self.world.files[fid].name = None;
            self.note(format!("{} (g{fid:03}) deleted", rotated_name(KEPT - 1)));
        }
        for k in (1..KEPT).rev() {
            if let Some(fid) = self.world.rotated[k - 1].take() {
                let to = rotated_name(k);
                self.s.rename(&rotated_name(k - 1), &to);
                self.world.files[fid].name = Some(to);
                self.world.rotated[k] = Some(fid);
            }
        }
    }

    /// The model and the disk agree on what is where.
    fn check_files(&self) -> Result<(), TestCaseError> {
        let mut want = Vec::new();
        if let Some(fid) = self.world.live {
            want.push((LIVE.to_string(), fid));
        }
        for (k, fid) in self.world.rotated.iter().enumerate() {
            if let Some(fid) = *fid {
                want.push((rotated_name(k), fid));
            }
        }
        let mut names: Vec<String> = fs::read_dir(self.s.dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(LIVE))
            .collect();
        names.sort();
        let mut expected: Vec<String> = want.iter().map(|(n, _)| n.clone()).collect();
        expected.sort();
        if names != expected {
            return Err(TestCaseError::fail(format!(
                "harness out of step with the model: files {names:?}, model {expected:?}"
            )));
        }
        for (name, fid) in want {
            let f = &self.world.files[fid];
            let path = self.s.path(&name);
            if Id::at(&path) != f.id || fs::read(&path).expect("read") != f.content {
                return Err(TestCaseError::fail(format!(
                    "harness out of step with the model: {name} is not g{fid:03}"
                )));
            }
        }
        Ok(())
    }

    fn run(&mut self, crash: bool) -> Result<(), TestCaseError> {
        let cp = self.s.checkpoint_path();
        let out_path = self.s.path("out.txt");
        let saved = fs::read(&cp).ok();
        let saved_at = fs::metadata(&cp).ok().map(|m| {
            let ns = i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec());
            u128::try_from(ns).unwrap_or(0)
        });
        let out_existed = out_path.exists();
        let r = self.s.once(ARGS);
        if r.code() != 0 || r.stderr.contains("panicked") {
            return Err(TestCaseError::fail(format!(
                "{}\nthe run exited {}\nstderr:\n{}",
                self.trace.join("\n"),
                r.code(),
                r.stderr
            )));
        }
        let out = self.s.read("out.txt");
        // What the model says this run delivers.
        let mut next = self.collector.clone();
        let mut notes = Vec::new();
        let written = next
            .run(&self.world, &self.s.path(LIVE), saved_at, &mut notes)
            .len();
        for note in notes {
            self.note(note);
        }
        self.note(format!(
            "-> {written} bytes out, {} lines in all",
            line_count(&next.delivered)
        ));
        if next.delivered != out {
            return Err(TestCaseError::fail(format!(
                "{}\n{}\nstderr of the run:\n{}",
                self.trace.join("\n"),
                diff(&out, &next.delivered),
                r.stderr
            )));
        }
        if let Some((before, after)) = out_of_order(&out) {
            return Err(TestCaseError::fail(format!(
                "{}\nline {after} went out after line {before}: twice, or out of order \
                 within its file (and the model agrees)\nstderr of the run:\n{}",
                self.trace.join("\n"),
                r.stderr
            )));
        }
        count(if crash { "crash runs" } else { "runs" });
        if crash && written > 0 {
            count("crash runs whose output the next run cuts back");
        }
        if crash {
            // Killed before the checkpoint of this run was saved.
            match saved {
                Some(bytes) => fs::write(&cp, bytes).expect("put the checkpoint back"),
                None => {
                    fs::remove_file(&cp).expect("remove the checkpoint");
                    // Without any checkpoint, no run had created the output.
                    if !out_existed {
                        fs::remove_file(&out_path).expect("remove the output");
                    }
                }
            }
            self.note("checkpoint put back as before the run".to_string());
        } else {
            self.collector = next;
        }
        Ok(())
    }
}

/// Lines are written in the order of their numbers, each file's after
/// those of the files before it at the path, so whatever is lost, the
/// numbers of the (whole or half) lines in the output must increase: a line
/// twice, or an older file's line after a newer one's, breaks that. Returns
/// the two offending tags.
fn out_of_order(out: &[u8]) -> Option<(String, String)> {
    // Per file (the `gNNN` part), numbers only grow; no number comes twice.
    // Across files, a generation the collector reads late (one rotated away
    // between two runs, or a copy of lines no run saw) may come after lines
    // written later elsewhere.
    let mut last: std::collections::HashMap<&[u8], (u32, &[u8])> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for l in out.split_inclusive(|&b| b == b'\n') {
        let tagged = l.len() > TAG
            && l[0] == b'g'
            && l[4] == b'-'
            && l[1..4].iter().chain(&l[5..TAG]).all(u8::is_ascii_digit);
        if !tagged {
            continue; // The second half of a line, after a copytruncate.
        }
        let n: u32 = std::str::from_utf8(&l[5..TAG]).ok()?.parse().ok()?;
        let show = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
        if let Some(&(m, tag)) = last.get(&l[..4]) {
            if n <= m {
                return Some((show(tag), show(&l[..TAG])));
            }
        }
        if !seen.insert(n) {
            return Some((show(&l[..TAG]), show(&l[..TAG])));
        }
        last.insert(&l[..4], (n, &l[..TAG]));
    }
    None
}

/// Where the output and the model part, line by line.
fn diff(out: &[u8], want: &[u8]) -> String {
    let a: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = want.split_inclusive(|&b| b == b'\n').collect();
    let show = |l: &[u8]| {
        let s = String::from_utf8_lossy(l);
        if s.len() > 24 {
            format!("{}…({} bytes)", &s[..TAG + 4], l.len())
        } else {
            format!("{s:?}")
        }
    };
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let mut text = format!(
        "output: {} lines ({} bytes), model: {} lines ({} bytes); first difference at line {at}\n",
        a.len(),
        out.len(),
        b.len(),
        want.len()
    );
    for i in at.saturating_sub(3)..at + 6 {
        if i >= a.len() && i >= b.len() {
            break;
        }
        let x = a.get(i).map_or("-".to_string(), |l| show(l));
        let y = b.get(i).map_or("-".to_string(), |l| show(l));
        let mark = if a.get(i) == b.get(i) { ' ' } else { '!' };
        text.push_str(&format!("  {mark} {i:4}  output {x:32}  model {y}\n"));
    }
    let missing: Vec<String> = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|l| show(l))
        .collect();
    let extra: Vec<String> = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| show(l))
        .collect();
    text.push_str(&format!("missing from the output: {missing:?}\n"));
    text.push_str(&format!("not expected in the output: {extra:?}"));
    text
}

/// How often the interesting things happened, over all cases (shrinking
/// included), for the report at the end.
static COUNTS: std::sync::Mutex<std::collections::BTreeMap<&str, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn count(what: &'static str) {
    *COUNTS.lock().unwrap().entry(what).or_default() += 1;
}

/// Counts a trace note by what it says.
fn tally(note: &str) {
    let kinds = [
        ("drain ", "rotated files drained"),
        (
            "a partial line + ",
            "final partial lines sent with a newline added",
        ),
        ("not found:", "files gone with unread bytes"),
        (
            "is a copy: not read",
            "copytruncate copies left unread (per run)",
        ),
        (
            "not followed before",
            "rotated files never followed (per run)",
        ),
        ("but another file", "files on a known inode read from 0"),
        ("is taken for", "files resumed under another file's entry"),
    ];
    for (needle, what) in kinds {
        if note.contains(needle) {
            count(what);
        }
    }
    if note.starts_with("second half") && !note.ends_with(" at app.log") {
        count("second halves written to a rotated or deleted file");
    }
}

/// Runs one sequence; a final run checks whatever the last step left.
fn run_case(steps: &[Step]) -> Result<(), TestCaseError> {
    count("cases");
    let mut c = Case::new();
    for (i, step) in steps.iter().chain([&Step::Run]).enumerate() {
        let label = if i == steps.len() {
            "final Run".to_string()
        } else {
            format!("{step:?}")
        };
        c.trace.push(format!("{i:2} {label}"));
        c.apply(step)?;
    }
    Ok(())
}

fn settings() -> (u32, u64) {
    (
        env_count("LOG_COLLECTOR_MODEL_CASES", 48),
        env_seed("LOG_COLLECTOR_MODEL_SEED"),
    )
}

#[test]
fn random_rotations_truncations_deletes_and_crashes_match_the_model() {
    let (cases, seed) = settings();
    eprintln!("model seed {seed} (LOG_COLLECTOR_MODEL_SEED), {cases} cases");
    let config = Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 2000,
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let result = runner.run(&prop::collection::vec(step(), 1..=25), |steps| {
        run_case(&steps)
    });
    match result {
        Ok(()) => {
            eprintln!("{cases} cases passed in {:?}", started.elapsed());
            for (what, n) in COUNTS.lock().unwrap().iter() {
                eprintln!("{n:6} {what}");
            }
        }
        Err(TestError::Fail(why, steps)) => {
            panic!("seed {seed}: minimal failing sequence:\n{steps:?}\n{why}")
        }
        Err(TestError::Abort(why)) => panic!("seed {seed}: aborted: {why}"),
    }
}

/// Found by the model test as `[Append, CopyTruncate, Run, Delete, Append,
/// Rotate]` and a final run: a file followed while empty was deleted, a new
/// file got its inode (ext4 hands a freed inode out again at once) and was
/// rotated before any run saw it at `app.log`; a run that took it for the
/// checkpointed file, though its birth time says otherwise, would read it
/// from the old file's offset. Here the two files share their first 1 KiB (a
/// banner, say), so that would start in the middle of a line.
#[test]
fn a_new_file_on_a_recycled_inode_beside_the_path_is_not_taken_for_the_old_one() {
    let s = Scenario::new();
    let banner = format!("{}\n", "=".repeat(HEAD - 1));
    s.append(LIVE, format!("{banner}old line\nold unfinished").as_bytes());
    let r = s.once(ARGS);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(
        &s.read("out.txt"),
        format!("{banner}old line\n").as_bytes(),
        "first run",
    );
    let old = Id::at(&s.path(LIVE));
    s.remove(LIVE);
    s.append(
        LIVE,
        format!("{banner}first new line\nsecond new line\n").as_bytes(),
    );
    let new = Id::at(&s.path(LIVE));
    if new.ino != old.ino || new.born.is_none() || new.born == old.born {
        skip("the new file did not get the old one's inode with a new birth time");
        return;
    }
    s.rename(LIVE, "app.log.1");
    let r = s.once(ARGS);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    // Whatever goes out must be lines as written, whole.
    let written = format!("{banner}old line\nfirst new line\nsecond new line\n");
    let written: Vec<&[u8]> = written
        .as_bytes()
        .split_inclusive(|&b| b == b'\n')
        .collect();
    let out = s.read("out.txt");
    for l in out.split_inclusive(|&b| b == b'\n') {
        assert!(
            written.contains(&l),
            "{:?} is no line that was written\nstderr:\n{}",
            String::from_utf8_lossy(l),
            r.stderr
        );
    }
}
