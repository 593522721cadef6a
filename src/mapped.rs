//! A read-only memory map of part of a log file, to scan for newlines without
//! copying the bytes: with `copy_file_range` for the output, raw catch-up
//! then never copies a byte through user space.
//!
//! A log file can be truncated (copytruncate) while it is mapped, and
//! touching a mapped page past the new end raises SIGBUS. A handler catches
//! a SIGBUS inside the one window mapped at a time, maps zero pages over the
//! rest of the window and notes it: the scan goes on over zeros, and its
//! result is thrown away. A SIGBUS anywhere else keeps its default action,
//! and so does one in the window whose zero pages cannot be mapped.
//!
//! This relies on Linux: `mmap` is not on POSIX's list of async-signal-safe
//! functions, but it is a plain system call there, safe in a handler in
//! practice; `MAP_FIXED` replaces the pages of the range in one step; and the
//! access that faulted is executed again when the handler returns.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// The window mapped now, as addresses [start, end); 0..0 when none is.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// Set by the handler when part of the window was replaced by zeros.
static FAULTED: AtomicBool = AtomicBool::new(false);
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Part of a file, mapped read-only. Only one exists at a time (the loop is
/// single-threaded); dropping it unmaps it.
pub struct Window {
    base: *mut libc::c_void,
    mapped: usize,
    /// Where the requested offset lies within the mapping (page alignment).
    skip: usize,
    len: usize,
}

impl Window {
    /// Maps `len` bytes of `file` from `offset`.
    pub fn map(file: &File, offset: u64, len: usize) -> io::Result<Window> {
        INSTALL.call_once(install);
        if !INSTALLED.load(Ordering::Relaxed) {
            return Err(io::Error::other("no SIGBUS handler"));
        }
        assert_eq!(START.load(Ordering::Relaxed), 0, "one window at a time");
        let page = PAGE.load(Ordering::Relaxed) as u64;
        let aligned = offset - offset % page;
        let skip = (offset - aligned) as usize;
        let mapped = skip + len;
        let at =
            libc::off_t::try_from(aligned).map_err(|_| io::Error::other("offset too large"))?;
        // SAFETY: a fresh read-only shared mapping chosen by the kernel; it
        // aliases no Rust object, and is unmapped only by Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                at,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        FAULTED.store(false, Ordering::SeqCst);
        START.store(base as usize, Ordering::SeqCst);
        END.store(base as usize + mapped, Ordering::SeqCst);
        Ok(Window {
            base,
            mapped,
            skip,
            len,
        })
    }

    /// The mapped bytes. Past a truncation they read as zeros (see `faulted`).
    /// A process writing to the file may change them while they are borrowed.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping covers skip + len readable bytes for as long as
        // self lives; pages the file lost are replaced by zero pages by the
        // SIGBUS handler, so every byte stays readable (where that fails, the
        // process dies of the SIGBUS instead). The mapping is shared: a writer
        // to the file (or a truncation, then zeros) can change the bytes under
        // this shared slice, which Rust otherwise assumes do not change. They
        // are only scanned for newlines, and the scan's result is thrown away
        // when the window faulted; what a concurrent write does to it is what
        // a read racing with the write would do. No Rust invariant depends on
        // the bytes' values (they are plain u8: any value is valid), and the
        // slice is never written through.
        unsafe { std::slice::from_raw_parts((self.base as *const u8).add(self.skip), self.len) }
    }

    /// Whether the file shrank under the window while it was read: what was
    /// read from it then is not the file's content.
    pub fn faulted(&self) -> bool {
        FAULTED.load(Ordering::SeqCst)
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        START.store(0, Ordering::SeqCst);
        END.store(0, Ordering::SeqCst);
        // SAFETY: unmaps exactly the mapping made in `map`; `bytes` borrows
        // self, so no slice of it outlives this.
        unsafe {
            libc::munmap(self.base, self.mapped);
        }
    }
}

fn install() {
    // SAFETY: sysconf and sigaction with a zeroed, then filled, sigaction.
    unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE);
        if page > 0 {
            PAGE.store(page as usize, Ordering::Relaxed);
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0 {
            INSTALLED.store(true, Ordering::Relaxed);
        }
    }
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = (START.load(Ordering::SeqCst), END.load(Ordering::SeqCst));
    if start <= addr && addr < end {
        let page = PAGE.load(Ordering::Relaxed);
        let from = addr - addr % page;
        // SAFETY: replaces pages inside our own window, [from, end), with
        // anonymous zero pages. This relies on Linux: mmap is a plain system
        // call there (not async-signal-safe by POSIX, safe in a handler in
        // practice: no lock, no allocation in user space); MAP_FIXED replaces
        // whatever the range held in one step, and only our own window is in
        // that range; returning from the handler executes the faulting access
        // again, and it reads zeros.
        let zeros = if map_forced_to_fail() {
            libc::MAP_FAILED
        } else {
            unsafe {
                libc::mmap(
                    from as *mut libc::c_void,
                    end - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            }
        };
        if zeros == libc::MAP_FAILED {
            // The pages are still the file's: the access would fault again,
            // for ever. The default action instead: it ends the process with
            // SIGBUS when the access is executed again.
            // SAFETY: resetting a disposition is async-signal-safe.
            unsafe {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
            return;
        }
        FAULTED.store(true, Ordering::SeqCst);
    } else {
        // Not ours: the default action on return, when the access faults again.
        // SAFETY: resetting a disposition is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGBUS, libc::SIG_DFL);
        }
    }
}

/// For a test: the handler behaves as if mapping the zero pages failed.
#[cfg(test)]
static FORCE_MAP_FAILURE: AtomicBool = AtomicBool::new(false);

fn map_forced_to_fail() -> bool {
    #[cfg(test)]
    return FORCE_MAP_FAILURE.load(Ordering::SeqCst);
    #[cfg(not(test))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    /// Set in the child process the test below starts.
    const CHILD: &str = "LOG_COLLECTOR_SIGBUS_CHILD";

    #[test]
    fn a_fault_whose_zero_pages_cannot_be_mapped_ends_the_process_with_sigbus() {
        let page = PAGE.load(Ordering::Relaxed).max(4096);
        if std::env::var_os(CHILD).is_some() {
            // The child: a truncation under the window, and the handler
            // cannot map zero pages. Its access must not fault for ever.
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&vec![b'x'; 4 * page]).unwrap();
            let w = Window::map(&f, 0, 4 * page).unwrap();
            FORCE_MAP_FAILURE.store(true, Ordering::SeqCst);
            f.set_len(page as u64).unwrap();
            let tail = std::hint::black_box(&w.bytes()[2 * page..]);
            println!("read {} past the end", tail[0]);
            return;
        }
        let name =
            "mapped::tests::a_fault_whose_zero_pages_cannot_be_mapped_ends_the_process_with_sigbus";
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the fault repeated for ever: the child still ran after 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.signal(), Some(libc::SIGBUS), "{status:?}");
    }

    #[test]
    fn reads_the_file_and_survives_its_truncation() {
        let mut f = tempfile::tempfile().unwrap();
        let page = PAGE.load(Ordering::Relaxed).max(4096);
        let body: Vec<u8> = (0..4 * page).map(|i| b'a' + (i % 26) as u8).collect();
        f.write_all(&body).unwrap();
        let w = Window::map(&f, 10, body.len() - 10).unwrap();
        assert_eq!(w.bytes(), &body[10..]);
        assert!(!w.faulted());
        drop(w);

        let w = Window::map(&f, 0, body.len()).unwrap();
        f.set_len(page as u64).unwrap();
        // Past the new end: zeros instead of a crash, and the window says so.
        let tail = &w.bytes()[2 * page..];
        assert!(tail.iter().all(|&b| b == 0));
        assert!(w.faulted());
        assert_eq!(&w.bytes()[..page], &body[..page]);
        drop(w);
        let w = Window::map(&f, 0, page).unwrap();
        assert!(!w.faulted());
    }
}
