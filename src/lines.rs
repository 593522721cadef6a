//! Splitting file bytes into lines with memchr. Offsets are absolute `u64`
//! file offsets. The splitter keeps nothing between calls: the caller re-reads
//! an unfinished line from its start next time, so the only state carried over
//! is whether the previous call ended right after a cut piece of a long line.

use memchr::memrchr;

/// What the splitter hands to the encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// One or more complete lines, each ending in `\n`, starting at file offset `offset`.
    Lines { offset: u64, bytes: &'a [u8] },
    /// A piece of a line longer than the maximum, or a final partial line of a
    /// file that is gone; it has no newline and the encoder adds one.
    Piece { offset: u64, bytes: &'a [u8] },
}

/// The result of one `split` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Bytes of `buf` fully delivered; the rest is an unfinished line shorter
    /// than the maximum, to be read again with the next data.
    pub consumed: usize,
    /// Whether the delivered bytes end with a cut piece (pass it to the next call).
    pub after_cut: bool,
}

/// Splits `buf`, which holds the file's bytes from offset `start`, into chunks.
///
/// A line of at most `max` bytes (not counting its newline) is delivered whole.
/// A longer one is cut into pieces of exactly `max` bytes as soon as they are
/// there; the last piece holds 1..=max bytes. A piece that happens to end
/// right before the line's newline leaves that newline to be swallowed: pass
/// `after_cut` = true and a leading `\n` is consumed without a line. That way
/// a restart from a checkpoint at a piece boundary neither repeats nor invents
/// a line.
pub fn split<'a>(
    buf: &'a [u8],
    start: u64,
    max: usize,
    mut after_cut: bool,
    mut emit: impl FnMut(Chunk<'a>),
) -> Split {
    debug_assert!(max >= 1);
    let mut pos = 0;
    let mut run_start = 0;
    while pos < buf.len() {
        if after_cut {
            after_cut = false;
            if buf[pos] == b'\n' {
                pos += 1;
                run_start = pos;
                continue;
            }
        }
        pos += whole_lines(&buf[pos..], max);
        // What is left starts a line too long, or one not finished yet.
        if buf.len() - pos < max {
            break;
        }
        if run_start < pos {
            emit(Chunk::Lines {
                offset: start + run_start as u64,
                bytes: &buf[run_start..pos],
            });
        }
        emit(Chunk::Piece {
            offset: start + pos as u64,
            bytes: &buf[pos..pos + max],
        });
        pos += max;
        run_start = pos;
        after_cut = true;
    }
    if run_start < pos {
        emit(Chunk::Lines {
            offset: start + run_start as u64,
            bytes: &buf[run_start..pos],
        });
    }
    Split {
        consumed: pos,
        after_cut,
    }
}

/// How many bytes at the start of `buf` are complete lines of at most `max`
/// bytes each: what `split` would deliver as its first run of lines.
///
/// The last newline within max+1 bytes of a line's start ends a run of lines
/// that are all short enough: one search covers many lines, and only a
/// window without any newline holds a line too long.
pub fn whole_lines(buf: &[u8], max: usize) -> usize {
    let mut pos = 0;
    while pos < buf.len() {
        let window_end = buf.len().min(pos.saturating_add(max).saturating_add(1));
        match memrchr(b'\n', &buf[pos..window_end]) {
            Some(i) => pos += i + 1,
            None => break,
        }
    }
    pos
}

/// Delivers the unfinished rest of a file that is gone as a final piece.
/// `rest` is what `split` left unconsumed, all of the file's remaining bytes.
pub fn final_piece<'a>(rest: &'a [u8], start: u64, emit: impl FnOnce(Chunk<'a>)) {
    if !rest.is_empty() {
        emit(Chunk::Piece {
            offset: start,
            bytes: rest,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every delivered line as (offset, bytes without newline), the simple way.
    fn collect(
        buf: &[u8],
        start: u64,
        max: usize,
        after_cut: bool,
    ) -> (Vec<(u64, Vec<u8>)>, Split) {
        let mut out = Vec::new();
        let split = split(buf, start, max, after_cut, |chunk| match chunk {
            Chunk::Lines { offset, bytes } => {
                let mut off = offset;
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    assert_eq!(line.last(), Some(&b'\n'));
                    out.push((off, line[..line.len() - 1].to_vec()));
                    off += line.len() as u64;
                }
            }
            Chunk::Piece { offset, bytes } => out.push((offset, bytes.to_vec())),
        });
        (out, split)
    }

    /// Feeds `input` as it grows in `cuts` steps, re-reading the unfinished
    /// rest each time through a buffer of at most `cap` bytes, like the reader does.
    fn by_steps(input: &[u8], cuts: &[usize], max: usize, cap: usize) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut offset = 0usize;
        let mut after_cut = false;
        let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
        ends.sort();
        ends.push(input.len());
        for end in ends {
            loop {
                let stop = end.min(offset + cap);
                let (lines, split) = collect(&input[offset..stop], offset as u64, max, after_cut);
                out.extend(lines);
                offset += split.consumed;
                after_cut = split.after_cut;
                if split.consumed == 0 || offset >= end {
                    break;
                }
            }
        }
        out
    }

    /// The reference: whole lines, long ones cut into `max`-byte pieces.
    fn model(input: &[u8], max: usize) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = 0u64;
        for line in input.split_inclusive(|&b| b == b'\n') {
            if line.last() != Some(&b'\n') {
                // Unfinished: only whole pieces of it are delivered.
                for piece in line.chunks(max).filter(|p| p.len() == max) {
                    out.push((off, piece.to_vec()));
                    off += max as u64;
                }
                break;
            }
            let body = &line[..line.len() - 1];
            if body.is_empty() {
                out.push((off, Vec::new()));
            }
            for piece in body.chunks(max) {
                out.push((off, piece.to_vec()));
                off += piece.len() as u64;
            }
            off += 1;
        }
        out
    }

    #[test]
    fn plain_lines_partial_tail_and_empty_lines() {
        let (lines, split) = collect(b"a\n\nbc\r\nde", 100, 10, false);
        assert_eq!(
            lines,
            [
                (100, b"a".to_vec()),
                (102, b"".to_vec()),
                (103, b"bc\r".to_vec())
            ]
        );
        assert_eq!(
            split,
            Split {
                consumed: 7,
                after_cut: false
            }
        );
    }

    #[test]
    fn long_lines_are_cut_into_exact_pieces() {
        let (lines, split) = collect(b"abcdefg\nxy\n", 0, 3, false);
        let want: Vec<(u64, Vec<u8>)> = vec![
            (0, b"abc".to_vec()),
            (3, b"def".to_vec()),
            (6, b"g".to_vec()),
            (8, b"xy".to_vec()),
        ];
        assert_eq!(lines, want);
        assert_eq!(split.consumed, 11);
        // Exactly twice the maximum: two pieces, no empty line after them.
        let (lines, _) = collect(b"abcdef\nz\n", 0, 3, false);
        assert_eq!(
            lines,
            [
                (0, b"abc".to_vec()),
                (3, b"def".to_vec()),
                (7, b"z".to_vec())
            ]
        );
        // A piece is delivered as soon as its bytes are there.
        let (lines, split) = collect(b"abc", 0, 3, false);
        assert_eq!(lines, [(0, b"abc".to_vec())]);
        assert_eq!(
            split,
            Split {
                consumed: 3,
                after_cut: true
            }
        );
        // ...and the newline that then ends the line is swallowed.
        let (lines, split) = collect(b"\nxyz\n", 3, 3, true);
        assert_eq!(lines, [(4, b"xyz".to_vec())]);
        assert_eq!(
            split,
            Split {
                consumed: 5,
                after_cut: false
            }
        );
    }

    #[test]
    fn capacities_one_two_and_seven() {
        let input = b"first line\n\nsecond\r\n\0nul\0\nlast partial";
        for max in [1, 2, 7, 1 << 20] {
            for cap in [max + 1, max + 2, max + 7, 4096] {
                let got = by_steps(input, &[], max, cap);
                assert_eq!(got, model(input, max), "max {max} cap {cap}");
            }
        }
    }

    #[test]
    fn final_piece_of_a_gone_file() {
        let mut got = Vec::new();
        final_piece(b"tail", 40, |c| got.push(c));
        assert_eq!(
            got,
            [Chunk::Piece {
                offset: 40,
                bytes: b"tail"
            }]
        );
        final_piece(b"", 40, |_| panic!("nothing to deliver"));
    }

    proptest! {
        /// Any chunking of the input gives the same lines and offsets.
        #[test]
        fn any_chunking_gives_the_same_lines(
            input in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'\r'), any::<u8>()], 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..8),
            max in 1usize..12,
            extra in 1usize..20,
        ) {
            let whole = by_steps(&input, &[], max, input.len() + max + 1);
            prop_assert_eq!(&whole, &model(&input, max));
            let mut run_end = 0;
            for (off, l) in &whole {
                let end = *off as usize + l.len();
                if *off as usize != run_end || input.get(end) != Some(&b'\n') {
                    break;
                }
                run_end = end + 1;
            }
            prop_assert_eq!(whole_lines(&input, max), run_end);
            prop_assert_eq!(by_steps(&input, &cuts, max, max + extra), whole);
        }
    }
}
