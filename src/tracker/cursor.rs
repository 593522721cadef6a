//! Where a file is read and delivered up to, and what the last checkpoint
//! covers: the positions that must never disagree.

/// The read position of a file. The fields move together, only through
/// these methods, so that what was delivered, what was looked at and what a
/// checkpoint covers never disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Next byte to deliver; always at a line or piece boundary.
    pub(super) offset: u64,
    /// Whether `offset` sits right after a cut piece of a long line.
    pub(super) after_cut: bool,
    /// End of what has been looked at: `offset` plus the unfinished line.
    pub(super) read_pos: u64,
    /// `offset` and `after_cut` as of the last saved checkpoint: where a
    /// failed cycle rolls back to.
    pub(super) committed: (u64, bool),
}

impl Cursor {
    /// At `offset`, nothing looked at beyond it, and committed there.
    pub fn at(offset: u64, after_cut: bool) -> Cursor {
        Cursor {
            offset,
            after_cut,
            read_pos: offset,
            committed: (offset, after_cut),
        }
    }

    /// The checkpoint covering the position was saved.
    pub fn commit(&mut self) {
        self.committed = (self.offset, self.after_cut);
    }

    /// Back to the last commit, nothing looked at beyond it.
    pub fn roll_back(&mut self) {
        (self.offset, self.after_cut) = self.committed;
        self.read_pos = self.offset;
    }

    /// After a roll back: forward to `offset` (what a failed output took),
    /// to be committed next.
    pub fn forward_to(&mut self, offset: u64, after_cut: bool) {
        (self.offset, self.after_cut, self.read_pos) = (offset, after_cut, offset);
    }

    pub fn committed_offset(&self) -> u64 {
        self.committed.0
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn after_cut(&self) -> bool {
        self.after_cut
    }

    pub fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// `looked` bytes were read from `offset`; the first `consumed` of them
    /// were delivered, ending after a cut piece if `after_cut`. The rest is an
    /// unfinished line, looked at but not delivered.
    pub fn advance(&mut self, consumed: u64, looked: u64, after_cut: bool) {
        debug_assert!(consumed <= looked);
        self.offset += consumed;
        self.after_cut = after_cut;
        self.read_pos = self.offset + (looked - consumed);
    }

    /// `n` bytes of whole lines were delivered without a look past them.
    pub fn skip(&mut self, n: u64) {
        self.offset += n;
        self.after_cut = false;
        self.read_pos = self.read_pos.max(self.offset);
    }

    /// Back to the first byte (truncation, new content); the commit stays.
    pub fn restart(&mut self) {
        (self.offset, self.after_cut, self.read_pos) = (0, false, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_moves_its_positions_together() {
        let mut c = Cursor::at(5, false);
        c.advance(10, 14, true);
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (15, 19, true));
        c.skip(100);
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (115, 115, false));
        c.advance(0, 3, false);
        assert_eq!((c.offset(), c.read_pos()), (115, 118));
        c.restart();
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (0, 0, false));
        c.roll_back();
        assert_eq!((c.offset(), c.read_pos()), (5, 5));
        c.advance(7, 7, false);
        c.commit();
        c.advance(3, 9, true);
        c.roll_back();
        assert_eq!((c.offset(), c.read_pos(), c.after_cut()), (12, 12, false));
        assert_eq!(c.committed_offset(), 12);
    }
}
