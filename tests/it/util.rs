//! The test harness: a `Scenario` owns a temp dir with the log files and the
//! state dir, has verbs for what happens to log files (append, rotate,
//! truncate, remove), and runs the collector once or as a daemon.
//!
//! The binary is `CARGO_BIN_EXE_log-collector`, started through the runner
//! named by `LOG_COLLECTOR_TEST_RUNNER` when that is set (e.g.
//! `qemu-aarch64-static` for ARM builds). Waits use deadlines and polling,
//! never fixed sleeps; deadlines only catch hangs and are generous.

#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails as hung.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Scenario {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
}

/// A command for one of the crate's binaries, started through the runner
/// named by `LOG_COLLECTOR_TEST_RUNNER` when that is set (qemu for ARM).
pub fn program(bin: &str) -> Command {
    let runner = std::env::var("LOG_COLLECTOR_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

/// The result of a run to completion.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Scenario {
    pub fn new() -> Scenario {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        Scenario { dir, state }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Appends bytes to a file, creating it if needed.
    pub fn append(&self, name: &str, bytes: &[u8]) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .expect("open for append");
        f.write_all(bytes).expect("append");
    }

    /// Creates or replaces a file's content in place (same inode if it exists).
    pub fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.path(name), bytes).expect("write");
    }

    /// logrotate's default: rename, then the writer creates a new file.
    pub fn rename(&self, from: &str, to: &str) {
        fs::rename(self.path(from), self.path(to)).expect("rename");
    }

    /// logrotate's copytruncate: copy the content away, truncate in place.
    pub fn copytruncate(&self, name: &str, copy: &str) {
        fs::copy(self.path(name), self.path(copy)).expect("copy");
        self.truncate(name);
    }

    pub fn truncate(&self, name: &str) {
        OpenOptions::new()
            .write(true)
            .open(self.path(name))
            .expect("open")
            .set_len(0)
            .expect("truncate");
    }

    pub fn remove(&self, name: &str) {
        fs::remove_file(self.path(name)).expect("remove");
    }

    pub fn mkfifo(&self, name: &str) {
        let status = Command::new("mkfifo")
            .arg(self.path(name))
            .status()
            .expect("mkfifo");
        assert!(status.success());
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap_or_default()
    }

    /// The collector command, run in the scenario's dir with its state dir.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare_command(&[]);
        cmd.arg("--state-dir").arg(&self.state).args(args);
        cmd.env_remove("JOURNAL_STREAM")
            .env_remove("STATE_DIRECTORY");
        cmd
    }

    /// The collector command without `--state-dir` (for tests of its defaults).
    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut cmd = program(env!("CARGO_BIN_EXE_log-collector"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0");
        cmd
    }

    /// Runs with `--once` and the given arguments, to completion.
    pub fn once(&self, args: &[&str]) -> Run {
        let mut all = vec!["--once"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Runs with exactly these arguments, to completion (with a deadline).
    pub fn run(&self, args: &[&str]) -> Run {
        let d = Daemon::start(self.command(args));
        d.wait_exit()
    }

    /// Starts the collector in the background.
    pub fn spawn(&self, args: &[&str]) -> Daemon {
        Daemon::start(self.command(args))
    }
}

/// A running collector, its stdout and stderr collected in the background.
pub struct Daemon {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 65536];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Daemon {
    pub fn start(mut cmd: Command) -> Daemon {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start log-collector");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().unwrap(), Arc::clone(&stdout)),
            drain(child.stderr.take().unwrap(), Arc::clone(&stderr)),
        ];
        Daemon {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until stdout satisfies `pred`; fails the test with both streams if it never does.
    pub fn wait_stdout(&self, what: &str, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
        let out = wait_until(what, || {
            let out = self.stdout();
            pred(&out).then_some(out)
        });
        out.unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&self.stdout()),
                self.stderr()
            )
        })
    }

    /// Waits until stdout holds exactly `want`.
    pub fn wait_stdout_eq(&self, want: &[u8]) {
        self.wait_stdout(
            &format!("stdout == {:?}", String::from_utf8_lossy(want)),
            |out| out.len() >= want.len(),
        );
        assert_eq!(
            String::from_utf8_lossy(&self.stdout()),
            String::from_utf8_lossy(want)
        );
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str) {
        if wait_until(needle, || self.stderr().contains(needle).then_some(())).is_none() {
            panic!(
                "timed out waiting for stderr to contain {needle:?}\nstderr:\n{}",
                self.stderr()
            );
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a pid we started and a valid signal number.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// SIGKILL: no chance to save anything.
    pub fn kill9(mut self) -> Run {
        let _ = self.child.kill();
        self.wait_exit()
    }

    /// SIGTERM, then wait for an exit with status 0.
    pub fn stop_ok(self) -> Run {
        let r = self.stop();
        assert_eq!(r.code(), 0, "{}", r.stderr);
        r
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(self) -> Run {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    /// Waits for the process to exit on its own (with a deadline) and collects its output.
    pub fn wait_exit(mut self) -> Run {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("log-collector did not exit\nstderr:\n{}", self.stderr());
            }
            thread::sleep(Duration::from_millis(5));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Run {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` until it returns `Some` or the deadline passes.
pub fn wait_until<T>(_what: &str, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() > DEADLINE {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until a file's content satisfies `pred`, failing the test otherwise.
pub fn wait_file(path: &Path, what: &str, pred: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    wait_until(what, || {
        let bytes = fs::read(path).unwrap_or_default();
        pred(&bytes).then_some(bytes)
    })
    .unwrap_or_else(|| {
        panic!(
            "timed out waiting for {what} in {}; it holds:\n{}",
            path.display(),
            String::from_utf8_lossy(&fs::read(path).unwrap_or_default())
        )
    })
}

/// `n` numbered lines `prefix-1\n` .. `prefix-n\n`.
pub fn numbered(prefix: &str, from: usize, to: usize) -> Vec<u8> {
    (from..=to)
        .flat_map(|i| format!("{prefix}-{i}\n").into_bytes())
        .collect()
}

/// json output with each record's `time` replaced by `T`: the read times
/// differ from run to run, all else two runs give is the same bytes. Panics
/// at a record that does not begin with a time of the right width.
pub fn without_times(json: &[u8]) -> Vec<u8> {
    const OPEN: &[u8] = b"{\"time\":\"";
    let mut out = Vec::with_capacity(json.len());
    for record in json.split_inclusive(|&b| b == b'\n') {
        let time_then = record
            .strip_prefix(OPEN)
            .filter(|rest| rest.len() > 25 && rest[23] == b'Z' && rest[24] == b'"');
        let Some(rest) = time_then else {
            panic!(
                "a record without a leading time: {:?}",
                String::from_utf8_lossy(record)
            );
        };
        out.extend_from_slice(OPEN);
        out.push(b'T');
        out.extend_from_slice(&rest[24..]);
    }
    out
}

/// Asserts two byte strings are equal; on failure shows where they first
/// differ instead of dumping megabytes.
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let at = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    let window = |b: &[u8]| {
        let from = at.saturating_sub(40);
        let to = b.len().min(at + 40);
        String::from_utf8_lossy(&b[from..to]).into_owned()
    };
    panic!(
        "{what}: {} bytes, expected {}; first difference at byte {at}\nactual:   {:?}\nexpected: {:?}",
        actual.len(),
        expected.len(),
        window(actual),
        window(expected)
    );
}

/// The permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The test process's umask, read from /proc (setting it to read it would
/// race with other tests creating files). `None` where /proc does not say.
pub fn process_umask() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let value = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(value.trim(), 8).ok()
}

/// Waits for a child started outside `Daemon` to exit, killing it at the deadline.
pub fn wait_child(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("log-collector did not exit");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until a file holds at least as many bytes as `want`, then asserts it
/// holds exactly `want` (so extra or repeated lines fail the test too).
pub fn wait_file_eq(path: &Path, want: &[u8]) {
    let got = wait_file(path, &format!("{} bytes", want.len()), |b| {
        b.len() >= want.len()
    });
    assert_same_bytes(&got, want, &path.display().to_string());
}

/// The number of complete lines in `bytes`.
pub fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

impl Scenario {
    /// The checkpoint file of the scenario's state dir.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.state.join("checkpoints")
    }
}

impl Daemon {
    /// Waits until stderr contains `needle` at least `n` times.
    pub fn wait_stderr_count(&self, needle: &str, n: usize) {
        let found = wait_until(needle, || {
            (self.stderr().matches(needle).count() >= n).then_some(())
        });
        if found.is_none() {
            panic!(
                "timed out waiting for {n} x {needle:?} in stderr\nstderr:\n{}",
                self.stderr()
            );
        }
    }

    /// Waits until the collector has run at least `n` complete poll cycles
    /// from now. SIGUSR1 wakes its sleep and its stats line is logged after
    /// the cycle that follows, so each answered USR1 is one more cycle.
    pub fn wait_cycles(&self, n: usize) {
        let before = self.stderr().matches("stats:").count();
        for i in 1..=n + 1 {
            // The first answer may come from a cycle already under way.
            self.signal(libc::SIGUSR1);
            self.wait_stderr_count("stats:", before + i);
        }
    }

    /// SIGSTOP: the collector makes no step until `thaw`, so a sequence of
    /// file changes looks to it like one change between two cycles.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
        // kill() returns before the target has stopped; a step in flight on
        // another core could still see part of what the test does next.
        let stat = format!("/proc/{}/stat", self.pid());
        let stopped = wait_until("stopped", || {
            let text = fs::read_to_string(&stat).ok()?;
            let state = text.rsplit_once(')')?.1.split_whitespace().next()?;
            (state == "T").then_some(())
        });
        assert!(stopped.is_some(), "log-collector did not stop on SIGSTOP");
    }

    /// SIGCONT after `freeze`.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }
}

/// Asserts that output `first` (of a run that died or was stopped) and `second`
/// (of the run after it) together hold `all` with at most one repeat: a
/// contiguous run of lines at the end of `first` that `second` sends again.
pub fn assert_delivered_at_least_once(first: &[u8], second: &[u8], all: &[u8]) {
    assert!(
        all.starts_with(first),
        "the first run's output is not a prefix of the log"
    );
    assert!(
        all.ends_with(second),
        "the second run's output is not a suffix of the log (lost or reordered lines)"
    );
    let resumed_at = all.len() - second.len();
    assert!(
        resumed_at == 0 || all[resumed_at - 1] == b'\n',
        "the second run resumed inside a line, at byte {resumed_at}"
    );
    assert!(
        resumed_at <= first.len(),
        "bytes {}..{resumed_at} were never delivered",
        first.len()
    );
}

/// Where each descriptor of process `pid` points (`/proc/<pid>/fd`), e.g.
/// `/tmp/x/app.log (deleted)`. `None` where /proc does not say (not Linux).
pub fn fd_targets(pid: i32) -> Option<Vec<String>> {
    let entries = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        entries
            .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
    )
}

/// The lines of `bytes` that start with `prefix`, newlines kept, in order.
pub fn lines_starting_with(bytes: &[u8], prefix: &str) -> Vec<u8> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.starts_with(prefix.as_bytes()))
        .flatten()
        .copied()
        .collect()
}

impl Daemon {
    /// `wait_exit` with a longer deadline, for runs whose work grows with
    /// the test's size (still there only to catch a hang).
    pub fn wait_exit_within(mut self, deadline: Duration) -> Run {
        let start = Instant::now();
        while self.child.try_wait().expect("wait").is_none() {
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!(
                    "log-collector did not exit in {deadline:?}\nstderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.wait_exit()
    }
}

/// A count from the environment (for longer runs of the randomized tests).
pub fn env_count<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seed from the environment (to replay a run), else one from the clock.
pub fn env_seed(name: &str) -> u64 {
    match env_count::<u64>(name, 0) {
        0 => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        }
        seed => seed,
    }
}

/// Whether `LOG_COLLECTOR_STRICT=1` is set: then a test whose precondition
/// this machine does not meet fails instead of being skipped.
pub fn strict() -> bool {
    std::env::var("LOG_COLLECTOR_STRICT").is_ok_and(|v| v == "1")
}

/// For a test that cannot check what it is about here (a missing
/// precondition): prints `SKIPPED: <test>: <reason>` to stderr, and the
/// caller returns; under `LOG_COLLECTOR_STRICT=1` the test fails instead.
#[track_caller]
pub fn skip(reason: &str) {
    let current = thread::current();
    let test = current.name().unwrap_or("a test");
    if strict() {
        panic!("{test}: precondition missing (LOG_COLLECTOR_STRICT=1): {reason}");
    }
    eprintln!("SKIPPED: {test}: {reason}");
}

/// The error line of a run that failed: the last one starting with the
/// program's name and not a hint.
pub fn error_line(stderr: &str) -> String {
    stderr
        .lines()
        .rfind(|l| l.starts_with("log-collector: ") && !l.starts_with("log-collector: hint:"))
        .unwrap_or_default()
        .to_string()
}

/// Lines enough to fill a pipe several times over.
pub fn a_few_mib() -> Vec<u8> {
    (0..40_000)
        .flat_map(|i| format!("{i:06} {}\n", "x".repeat(90)).into_bytes())
        .collect()
}

/// Makes every checkpoint save of a running collector fail: a directory
/// where the temp file goes. A save in flight may hold the name as a file
/// for a moment: it is tried again then.
pub fn block_checkpoint_saves(s: &Scenario) {
    let tmp = s.state.join("checkpoints.tmp");
    let made = wait_until("checkpoints.tmp as a directory", || {
        fs::create_dir(&tmp).ok()
    });
    assert!(made.is_some(), "could not create {}", tmp.display());
}

/// A tmpfs mounted for one test, unmounted when dropped.
pub struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Mounts a tmpfs with `options` (`size=64k`, ...) at `dir`; `None` where
/// this process may not mount, after `skip` has said so (which fails the
/// test under `LOG_COLLECTOR_STRICT=1`): the caller then returns.
pub fn small_tmpfs(dir: &Path, options: &str) -> Option<Mount> {
    fs::create_dir_all(dir).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        return Some(Mount(dir.to_path_buf()));
    }
    skip(&format!(
        "cannot mount a tmpfs at {} (needs root)",
        dir.display()
    ));
    None
}
