//! The `|COMMAND` output: `sh -c COMMAND` with a pipe to its stdin, the way
//! piped logs have long worked. The child runs in its own process group, so
//! a Ctrl-C meant for the collector does not kill it mid-batch: on shutdown
//! the collector closes the pipe and gives it a moment to finish. Then the
//! whole group is ended, so that nothing the command started (a child of
//! `sh`, a helper it left behind) outlives it and ships lines beside the
//! next collector's command.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The soft descriptor limit the process started with, given back to the
/// command (0: leave it): programs that use select() break above 1024.
static CHILD_NOFILE: AtomicU64 = AtomicU64::new(0);

/// Makes commands started from now on run with soft descriptor limit `soft`.
pub fn set_child_fd_limit(soft: u64) {
    CHILD_NOFILE.store(soft, Ordering::Relaxed);
}

/// How long a command may take to finish after its stdin is closed on shutdown.
pub const FINISH_GRACE: Duration = Duration::from_millis(500);
/// How long what is left of its group has between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(100);

/// The process group of the running command (0: none), for `end_group_now`:
/// the stop clock ends the process without going through `finish`.
static GROUP: AtomicI32 = AtomicI32::new(0);

/// Starts the command; returns the write end of its stdin and the child.
pub fn spawn(command: &str) -> io::Result<(File, Child)> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .process_group(0);
    let soft = CHILD_NOFILE.load(Ordering::Relaxed);
    if soft != 0 {
        // SAFETY: only getrlimit and setrlimit run between fork and exec;
        // both are async-signal-safe and touch nothing but their arguments.
        unsafe {
            cmd.pre_exec(move || {
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
                    limit.rlim_cur = libc::rlim_t::try_from(soft)
                        .unwrap_or(limit.rlim_max)
                        .min(limit.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn()?;
    // The group's number is the child's pid, since it leads the group.
    GROUP.store(group_of(&child), Ordering::Relaxed);
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("no stdin pipe"))?;
    Ok((File::from(OwnedFd::from(stdin)), child))
}

/// Whether the command has read everything sent to it, waiting up to `wait`
/// for it to catch up. An exited command is an error (its status says how).
pub fn taken(pipe: &File, child: &mut Child, wait: Duration) -> io::Result<bool> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(describe_status(status)));
        }
        match unread(pipe) {
            None | Some(0) => return Ok(true),
            Some(_) if start.elapsed() < wait => std::thread::sleep(Duration::from_millis(2)),
            Some(_) => return Ok(false),
        }
    }
}

/// Bytes still in the pipe, not yet read by the command; `None` where the
/// system cannot tell (then what the pipe accepted counts as taken).
pub fn unread(pipe: &File) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer we pass.
    let rc = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    (rc == 0).then(|| usize::try_from(n).unwrap_or(0))
}

/// Says how a child ended, for a log line.
pub fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "ended".into(),
    }
}

/// How a command whose stdin was closed ended (see `finish`).
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    pub status: Option<ExitStatus>,
    /// It exited on its own within the grace it was given, before its
    /// group was signalled: `status` is its own doing.
    pub in_time: bool,
    grace: Duration,
}

impl Finished {
    /// How it ended when that is a failure, for a message: its status when
    /// it exited on its own with one other than 0, or the signal it was
    /// ended with when it did not exit in time.
    pub fn failure(&self) -> Option<String> {
        let how = self
            .status
            .map_or_else(|| "ended".to_string(), describe_status);
        match self.status {
            Some(status) if self.in_time && status.success() => None,
            _ if self.in_time => Some(how),
            _ if self.grace.is_zero() => Some(format!("{how} (ended at once)")),
            _ => Some(format!(
                "{how} (it did not exit within {}ms of the end of its input)",
                self.grace.as_millis()
            )),
        }
    }
}

/// Waits for a child whose stdin was closed, at most `grace`; then ends
/// what is left of its process group (the child too, if it still runs).
pub fn finish(child: &mut Child, grace: Duration) -> Finished {
    let start = Instant::now();
    let mut status = None;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => status = Some(s),
            Ok(None) if start.elapsed() < grace => {
                std::thread::sleep(Duration::from_millis(10).min(grace));
                continue;
            }
            Ok(None) | Err(_) => {}
        }
        break;
    }
    let in_time = status.is_some();
    let group = group_of(child);
    let _ = GROUP.compare_exchange(group, 0, Ordering::Relaxed, Ordering::Relaxed);
    // The number stays the group's while any member lives, even once the
    // leader was reaped; an empty group's number comes back only after the
    // pid numbers have gone all the way round.
    if signal_group(group, libc::SIGTERM) {
        let start = Instant::now();
        while start.elapsed() < TERM_GRACE {
            if status.is_none() {
                status = child.try_wait().ok().flatten();
            }
            if status.is_some() && !signal_group(group, 0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        signal_group(group, libc::SIGKILL);
    }
    Finished {
        status: status.or_else(|| child.wait().ok()),
        in_time,
        grace,
    }
}

/// For the stop clock, just before the process exits: kills the running
/// command's group at once, there is no time left to wait for it.
pub fn end_group_now() {
    let group = GROUP.swap(0, Ordering::Relaxed);
    signal_group(group, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(20));
    signal_group(group, libc::SIGKILL);
}

fn group_of(child: &Child) -> i32 {
    i32::try_from(child.id()).unwrap_or(0)
}

/// Sends `signal` (0: none, only look) to every process of `group`; says
/// whether one was there.
fn signal_group(group: i32, signal: i32) -> bool {
    // 0 stands for no command here; killpg would take it for our own group.
    if group <= 1 {
        return false;
    }
    // SAFETY: killpg with a plain integer group and signal; no memory involved.
    unsafe { libc::killpg(group, signal) == 0 }
}
