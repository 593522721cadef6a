//! The idle fast path of step 2. What the last look at each found path
//! saw is kept in one compact array, parallel to the found paths: a file
//! whose stat is word for word what it was, and that had nothing left to do
//! then ("settled"), costs its one stat and a compare, with no map lookup,
//! no path built or compared and nothing allocated. Everything else (a
//! change, an error, a file that still has work) takes the full look.
//!
//! A settled file counts as seen in every look (`Tracked::settle`), and is
//! left out of the per-file steps until its slot sees a change. The slots
//! are built again whenever the found paths are, and whenever something
//! outside the looks may have changed a settled file (a reload, a roll
//! back): everything is looked at in full once, then settles again.

use std::collections::HashSet;
use std::io;

use crate::discover::Found;
use crate::identity::{FileId, Stat};

/// No file settled on a slot.
const NONE: u64 = u64::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The open directory to look in, or AT_FDCWD for a whole path.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    dir: std::os::fd::RawFd,
    /// Where the slot's NUL-terminated name starts in `names`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    name: u32,
    /// The file settled on it, or NONE.
    seq: u64,
    // The last stat, in the words compared.
    dev: u64,
    ino: u64,
    size: u64,
    changed: u64,
    born: u64,
}

#[derive(Debug, Default)]
pub(super) struct Watch {
    slots: Vec<Slot>,
    /// The slots' names one after another, each NUL-terminated: looked up
    /// in order, so the loop reads memory in order.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    names: Vec<u8>,
    /// Slots looked at in full in the last look whose file may settle.
    looked: Vec<usize>,
    /// Files reached from more than one slot in the last look: they stay
    /// with the full look, where the first path to them counts.
    shared: HashSet<u64>,
    /// The slots must be built again before the next look.
    stale: bool,
}

impl Watch {
    /// Asks for the slots to be built again before the next look.
    pub fn invalidate(&mut self) {
        self.stale = true;
    }

    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Builds the slots for `found` (all unsettled); returns the files that
    /// were settled, to be unsettled by the caller.
    pub fn rebuild(&mut self, found: &[Found]) -> Vec<u64> {
        let settled = self
            .slots
            .iter()
            .map(|s| s.seq)
            .filter(|&s| s != NONE)
            .collect();
        self.slots.clear();
        // Exactly as many: at 10,000 files a doubled capacity is a third
        // of a megabyte.
        self.slots.reserve_exact(found.len());
        self.slots.shrink_to(found.len());
        self.looked.clear();
        self.shared.clear();
        self.stale = false;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        self.names.clear();
        for f in found {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let (dir, name) = {
                use std::os::fd::AsRawFd;
                use std::os::unix::ffi::OsStrExt;
                let start = self.names.len() as u32;
                let name = f.path.file_name().map(|n| n.as_bytes());
                let dir = match (&f.at, name) {
                    // Names read from a directory hold no NUL.
                    (Some(dir), Some(name)) if !name.contains(&0) => {
                        self.names.extend_from_slice(name);
                        dir.as_raw_fd()
                    }
                    _ => {
                        // A path with a NUL in it cannot be looked at: the full
                        // look says so.
                        let path = std::ffi::CString::new(f.path.as_os_str().as_bytes())
                            .unwrap_or_default();
                        self.names.extend_from_slice(path.as_bytes());
                        libc::AT_FDCWD
                    }
                };
                self.names.push(0);
                (dir, start)
            };
            self.slots.push(Slot {
                #[cfg(any(target_os = "linux", target_os = "android"))]
                dir,
                #[cfg(any(target_os = "linux", target_os = "android"))]
                name,
                seq: NONE,
                dev: 0,
                ino: 0,
                size: 0,
                changed: 0,
                born: 0,
            });
        }
        settled
    }

    /// Stats slot `i` (found path `f`).
    #[inline(always)]
    pub fn stat(&self, i: usize, f: &Found) -> io::Result<Stat> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = f;
            let slot = &self.slots[i];
            let end = self
                .slots
                .get(i + 1)
                .map_or(self.names.len(), |s| s.name as usize);
            // SAFETY: `rebuild` puts each name in `names` followed by one NUL
            // and nothing else before the next slot's name; the names hold no
            // NUL (see there).
            let name = unsafe {
                std::ffi::CStr::from_bytes_with_nul_unchecked(&self.names[slot.name as usize..end])
            };
            crate::identity::stat_in(slot.dir, name)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = i;
            std::fs::metadata(&f.path).map(|m| Stat::of(&m))
        }
    }

    /// The file settled on slot `i`, if its stat is the last one word for
    /// word: nothing happened to it.
    #[inline(always)]
    pub fn unchanged(&self, i: usize, stat: &Stat) -> bool {
        let s = &self.slots[i];
        s.seq != NONE
            && stat.id.ino == s.ino
            && stat.size == s.size
            && stat.changed == s.changed
            && stat.id.dev == s.dev
            && stat.born.unwrap_or(0) == s.born
    }

    /// The file settled on slot `i`, taking it off: the full look decides.
    pub fn unsettle(&mut self, i: usize) -> Option<u64> {
        let seq = std::mem::replace(&mut self.slots[i].seq, NONE);
        (seq != NONE).then_some(seq)
    }

    /// Slot `i` was looked at in full and found a followed file.
    pub fn looked(&mut self, i: usize, look: &super::Look) {
        let s = &mut self.slots[i];
        (s.dev, s.ino, s.size) = (look.id.dev, look.id.ino, look.size);
        (s.changed, s.born) = (look.changed, look.born.unwrap_or(0));
        self.looked.push(i);
    }

    /// File `seq` was reached from a second slot in this look.
    pub fn shared(&mut self, seq: u64) {
        self.shared.insert(seq);
    }

    /// The slots looked at in full last time, with the identity and size
    /// each saw: the candidates to settle.
    pub fn candidates(&mut self) -> Vec<(usize, FileId, u64)> {
        let slots = &self.slots;
        self.looked
            .drain(..)
            .map(|i| {
                let s = &slots[i];
                (
                    i,
                    FileId {
                        dev: s.dev,
                        ino: s.ino,
                    },
                    s.size,
                )
            })
            .collect()
    }

    /// Whether `seq` was reached from more than one slot last time.
    pub fn is_shared(&self, seq: u64) -> bool {
        self.shared.contains(&seq)
    }

    /// Settles file `seq` on slot `i`.
    pub fn settle(&mut self, i: usize, seq: u64) {
        self.slots[i].seq = seq;
    }

    /// Forgets last look's shared files (after settling).
    pub fn end_settling(&mut self) {
        self.shared.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Kind;

    fn stat(ino: u64, size: u64, changed: u64) -> Stat {
        Stat {
            id: FileId { dev: 8, ino },
            size,
            born: Some(5),
            changed,
            kind: Kind::Regular,
        }
    }

    fn look(s: &Stat) -> super::super::Look {
        super::super::Look {
            id: s.id,
            size: s.size,
            born: s.born,
            changed: s.changed,
        }
    }

    #[test]
    fn only_a_settled_slot_whose_stat_is_word_for_word_the_same_is_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"x\n").unwrap();
        let found = [Found {
            path: path.clone(),
            at: None,
            literal: true,
        }];
        let mut w = Watch::default();
        assert!(w.rebuild(&found).is_empty());
        let s = stat(3, 10, 100);
        assert!(!w.unchanged(0, &s), "not settled yet");
        w.looked(0, &look(&s));
        assert_eq!(w.candidates(), [(0, s.id, 10)]);
        w.settle(0, 42);
        assert!(w.unchanged(0, &s));
        for other in [stat(4, 10, 100), stat(3, 11, 100), stat(3, 10, 101)] {
            assert!(!w.unchanged(0, &other), "{other:?}");
        }
        let reborn = Stat { born: Some(6), ..s };
        assert!(!w.unchanged(0, &reborn));
        // The slot looks the file up where it is.
        let seen = w.stat(0, &found[0]).unwrap();
        assert_eq!(seen.size, 2);
        assert_eq!(
            w.rebuild(&found),
            [42],
            "a rebuild hands back the settled files"
        );
        assert!(!w.unchanged(0, &s));
        w.looked(0, &look(&s));
        let _ = w.candidates();
        w.settle(0, 42);
        assert_eq!(w.unsettle(0), Some(42));
        assert_eq!(w.unsettle(0), None);
    }
}
