//! Signal handling. Handlers only set atomic flags (signal-hook) and write a
//! byte to wake the loop's sleep; the loop reads the flags between steps.
//!
//! TERM and INT also start a one-second clock on a small thread: if the loop
//! is stuck in a write the output does not accept (a full pipe, a stalled
//! FIFO), the process exits anyway. The checkpoint on disk then covers only
//! what was written before, which is what the contract asks. An output
//! command's process group is ended first, and a `--once` run that is cut
//! short this way exits 1 with the error a stop of `--once` gives: it did
//! not finish.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::{flag, low_level::pipe};

/// How long a stop request waits for the write in hand before exiting anyway.
const STOP_GRACE: Duration = Duration::from_millis(900);

/// What the stop clock does when it acts (see `Signals::set_cut_short`).
struct CutShort {
    /// The exit status.
    status: i32,
    /// The lines it writes to stderr last (the error a stopped `--once` run
    /// gives, with its hint), or nothing.
    report: String,
}

/// Held by the stop clock from when it acts until `_exit`, and by `main`
/// from its last words on (`last_words`): so one of the two reports how the
/// run ended, never both.
static CUT_SHORT: Mutex<CutShort> = Mutex::new(CutShort {
    status: 0,
    report: String::new(),
});

fn cut_short() -> MutexGuard<'static, CutShort> {
    CUT_SHORT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Held by `main` while it reports how the run ended and exits (it is never
/// dropped): the stop clock, should it act meanwhile, then waits for the
/// exit instead of reporting too.
pub struct LastWords(#[allow(dead_code)] MutexGuard<'static, CutShort>);

/// Takes the last word from the stop clock (see `LastWords`).
pub fn last_words() -> LastWords {
    LastWords(cut_short())
}

/// Writes `bytes` to stderr without std's lock (another thread may hold it
/// while it waits on a full stderr); errors are ignored, nothing can be
/// done about them this late.
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write from a live buffer of the length given.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        match n {
            1.. => bytes = &bytes[n.unsigned_abs()..],
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

/// The flags the loop polls, and the socket its sleep waits on.
pub struct Signals {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    stats: Arc<AtomicBool>,
    wake: UnixStream,
}

impl Signals {
    /// Registers the handlers. Call once, before the first cycle.
    pub fn install() -> io::Result<Signals> {
        let stop = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(AtomicBool::new(false));
        let (wake, wake_tx) = UnixStream::pair()?;
        for sig in [SIGTERM, SIGINT] {
            flag::register(sig, Arc::clone(&stop))?;
        }
        flag::register(SIGHUP, Arc::clone(&reload))?;
        flag::register(SIGUSR1, Arc::clone(&stats))?;
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] {
            pipe::register(sig, wake_tx.try_clone()?)?;
        }

        // A file output past RLIMIT_FSIZE should fail with EFBIG, handled and
        // retried like a full disk, instead of killing the process.
        // SAFETY: setting a standard disposition; no handler code runs.
        unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };

        let (mut clock, clock_tx) = UnixStream::pair()?;
        for sig in [SIGTERM, SIGINT] {
            pipe::register(sig, clock_tx.try_clone()?)?;
        }
        std::thread::Builder::new().name("stop-clock".into()).spawn(move || {
            let mut byte = [0u8; 1];
            if clock.read(&mut byte).is_ok_and(|n| n == 1) {
                std::thread::sleep(STOP_GRACE);
                let cut = cut_short();
                log::warn!("shutdown: the output did not take the last write in time; exiting without it");
                crate::output::end_group_now();
                write_stderr(cut.report.as_bytes());
                // SAFETY: _exit ends the process at once without running any
                // code that could block on the stalled output.
                unsafe { libc::_exit(cut.status) };
            }
        })?;
        Ok(Signals {
            stop,
            reload,
            stats,
            wake,
        })
    }

    /// Sets the exit status of a stop that abandons the write in hand
    /// (default 0), and the lines it writes to stderr before it exits: 1
    /// for `--once`, whose run is then not finished, with the error and
    /// hint that say so (`Error::report`).
    pub fn set_cut_short(&self, status: i32, report: String) {
        let mut cut = cut_short();
        cut.status = status;
        cut.report = report;
    }

    /// Whether TERM or INT arrived.
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Whether HUP arrived since the last call.
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::Relaxed)
    }

    /// Whether USR1 arrived since the last call.
    pub fn take_stats(&self) -> bool {
        self.stats.swap(false, Ordering::Relaxed)
    }

    /// Whether a HUP or USR1 waits to be taken.
    pub fn pending(&self) -> bool {
        self.reload.load(Ordering::Relaxed) || self.stats.load(Ordering::Relaxed)
    }

    /// Sleeps for `d` or until any handled signal arrives.
    pub fn sleep(&self, d: Duration) {
        if d.is_zero() || self.should_stop() {
            return;
        }
        let mut sink = [0u8; 64];
        if self.wake.set_read_timeout(Some(d)).is_ok() {
            // Either a byte from a handler or a timeout: both mean "go on".
            let _ = (&self.wake).read(&mut sink);
        } else {
            std::thread::sleep(d);
        }
    }
}
