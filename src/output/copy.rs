//! In-kernel copies from a log file to a regular output file with
//! `copy_file_range`: raw lines already scanned for newlines go out without
//! passing through user space. Only Linux has the call; elsewhere, and where
//! the kernel or the filesystems refuse it, the output is written as usual.

use std::fs::File;
use std::io;

/// How a copy went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copied {
    /// All of it is in the output.
    Done,
    /// The kernel cannot copy between these files: nothing was written, and
    /// no copy is tried again.
    Unsupported,
    /// The log file ended before the range did (truncated meanwhile):
    /// nothing was written.
    Shrank,
}

/// A descriptor `copy_file_range` may write to, and where.
#[derive(Debug)]
pub struct Target {
    file: File,
    /// Write at the file's current end (a file output, whose own descriptor
    /// appends and so cannot be a copy target); otherwise at the descriptor's
    /// position, shared with whoever else writes through it (stdout).
    at_end: bool,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use super::*;
    use std::io::{Seek, SeekFrom};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// A second, non-appending descriptor on the output file at `path`, if
    /// it is still the file `appended` writes to.
    pub fn for_file(path: &Path, appended: &File) -> Option<Target> {
        let file = std::fs::OpenOptions::new().write(true).open(path).ok()?;
        let (a, b) = (file.metadata().ok()?, appended.metadata().ok()?);
        (a.dev() == b.dev() && a.ino() == b.ino()).then_some(Target { file, at_end: true })
    }

    /// stdout, when it is a regular file not opened for appending.
    pub fn for_stdout(stdout: &File) -> Option<Target> {
        // SAFETY: fcntl F_GETFL on a descriptor we own.
        let flags = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_GETFL) };
        let regular = stdout.metadata().is_ok_and(|m| m.is_file());
        if flags < 0 || flags & libc::O_APPEND != 0 || !regular {
            return None;
        }
        Some(Target {
            file: stdout.try_clone().ok()?,
            at_end: false,
        })
    }

    /// Copies `len` bytes of `src` from `offset` to the target. On an error
    /// after part of it was copied, that part stays: the caller's rollback
    /// cuts a file output back.
    pub fn copy(target: &Target, src: &File, offset: u64, len: usize) -> io::Result<Copied> {
        let dst = &target.file;
        let start = if target.at_end {
            dst.metadata()?.len()
        } else {
            (&*dst).stream_position()?
        };
        let mut off_in = i64::try_from(offset).map_err(io::Error::other)?;
        let mut off_out = i64::try_from(start).map_err(io::Error::other)?;
        let out = target.at_end.then_some(&mut off_out);
        let (done, error) = copy_range(src, &mut off_in, dst, out, len);
        if done == len {
            return Ok(Copied::Done);
        }
        match error {
            // The log file ended first (truncated meanwhile).
            None => {
                // Undo a partial copy so the output never holds half a line.
                if done > 0 {
                    dst.set_len(start)?;
                    if !target.at_end {
                        (&*dst).seek(SeekFrom::Start(start))?;
                    }
                }
                Ok(Copied::Shrank)
            }
            Some(e) if done == 0 && unsupported(&e) => Ok(Copied::Unsupported),
            Some(e) => Err(e),
        }
    }

    /// Starts writing the file's dirty pages to disk, without waiting.
    pub fn start_writeback(file: &File) {
        // SAFETY: an open descriptor; no memory is involved. A failure only
        // leaves the writing to the sync.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }

    /// The `copy_file_range` loop: up to `len` bytes from `off_in` in `src`
    /// to `dst`, at `off_out` or (None) at its descriptor's position. Returns
    /// how many were copied and the error that stopped it, if one did
    /// rather than the end of `src` or of `len`.
    fn copy_range(
        src: &File,
        off_in: &mut i64,
        dst: &File,
        mut off_out: Option<&mut i64>,
        len: usize,
    ) -> (usize, Option<io::Error>) {
        let mut done = 0;
        while done < len {
            let out_ptr = match off_out.as_deref_mut() {
                Some(off) => (off as *mut i64).cast(),
                None => std::ptr::null_mut(),
            };
            // SAFETY: both descriptors are open; the offsets are valid i64s
            // that the call updates.
            let n = unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    (off_in as *mut i64).cast(),
                    dst.as_raw_fd(),
                    out_ptr,
                    len - done,
                    0,
                )
            };
            match n {
                0 => break,
                n if n > 0 => done += n as usize,
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return (done, Some(e));
                    }
                }
            }
        }
        (done, None)
    }

    /// Errors that say this pair of files cannot be copied between (another
    /// filesystem, an old kernel, a filter on system calls), not that the
    /// output failed.
    fn unsupported(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(
                libc::EXDEV
                    | libc::EINVAL
                    | libc::ENOSYS
                    | libc::EOPNOTSUPP
                    | libc::EBADF
                    | libc::EPERM
            )
        )
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use super::*;
    use std::path::Path;

    pub fn for_file(_: &Path, _: &File) -> Option<Target> {
        None
    }

    pub fn for_stdout(_: &File) -> Option<Target> {
        None
    }

    pub fn copy(_: &Target, _: &File, _: u64, _: usize) -> io::Result<Copied> {
        Ok(Copied::Unsupported)
    }

    pub fn start_writeback(_: &File) {}
}

pub use imp::{copy, for_file, for_stdout, start_writeback};
