//! Scale: thousands of watched files under a descriptor limit of 1024 (`ulimit
//! -n 1024`), with `--once` and as a daemon whose open descriptors are
//! sampled from /proc; and fairness: small busy files are served while one
//! big backlog is caught up.
//!
//! Durability is not what these probe: they run with `--no-fsync`, which
//! spares tests running beside them a flood of fsyncs.
//!
//! `LOG_COLLECTOR_SCALE_FILES` sets the number of files (default 20,000, the
//! contract's figure; a few seconds in a debug build). Timings and the most
//! descriptors seen are printed (`--nocapture` shows them).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// The descriptor limit the collector runs under.
const NOFILE: u64 = 1024;

fn file_count() -> usize {
    std::env::var("LOG_COLLECTOR_SCALE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// The collector command with RLIMIT_NOFILE lowered to `NOFILE`, soft and hard.
fn limited(s: &Scenario, args: &[&str]) -> Command {
    let mut cmd = s.command(args);
    // SAFETY: between fork and exec only setrlimit, which is async-signal-safe,
    // and building an io::Error from errno, which does not allocate.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: NOFILE as libc::rlim_t,
                rlim_max: NOFILE as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn name(i: usize) -> String {
    format!("f{i:05}")
}

/// Creates `n` small files under `dir`: one line each, two for even numbers.
/// Returns every line written.
fn create_files(dir: &Path, n: usize) -> Vec<String> {
    fs::create_dir(dir).expect("mkdir");
    let mut lines = Vec::new();
    for i in 0..n {
        let mut text = format!("{}-1\n", name(i));
        if i % 2 == 0 {
            text.push_str(&format!("{}-2\n", name(i)));
        }
        fs::write(dir.join(format!("{}.log", name(i))), &text).expect("write");
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

/// Asserts `out` holds exactly the lines `want` (in any order across files),
/// and each file's lines in their order (`fNNNNN-<seq>`).
fn assert_each_line_once(out: &[u8], mut want: Vec<String>) {
    let text = String::from_utf8_lossy(out);
    assert!(out.is_empty() || out.ends_with(b"\n"), "a partial line");
    let got: Vec<&str> = text.lines().collect();
    let mut last: HashMap<&str, u32> = HashMap::new();
    for line in &got {
        let (file, seq) = line
            .rsplit_once('-')
            .unwrap_or_else(|| panic!("not a line of ours: {line:?}"));
        let seq: u32 = seq.parse().expect("sequence number");
        let before = last.insert(file, seq).unwrap_or(0);
        assert!(seq > before, "{file}: line {seq} after line {before}");
    }
    let mut got: Vec<String> = got.into_iter().map(str::to_string).collect();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        let missing = want
            .iter()
            .filter(|l| got.binary_search(l).is_err())
            .count();
        panic!(
            "{} lines delivered, {} expected; {missing} missing, the rest repeated",
            got.len(),
            want.len()
        );
    }
}

/// The number of descriptors `pid` holds, or `None` without /proc.
fn fd_count(pid: i32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Counts a process's descriptors every few milliseconds in the background.
struct FdSampler {
    running: Arc<AtomicBool>,
    max: Arc<AtomicUsize>,
    samples: Arc<AtomicUsize>,
    thread: thread::JoinHandle<()>,
}

impl FdSampler {
    fn start(pid: i32) -> FdSampler {
        let running = Arc::new(AtomicBool::new(true));
        let max = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (running, max, samples) =
                (Arc::clone(&running), Arc::clone(&max), Arc::clone(&samples));
            thread::spawn(move || {
                while running.load(Ordering::Relaxed) {
                    if let Some(count) = fd_count(pid) {
                        max.fetch_max(count, Ordering::Relaxed);
                        samples.fetch_add(1, Ordering::Relaxed);
                    }
                    thread::sleep(Duration::from_millis(2));
                }
            })
        };
        FdSampler {
            running,
            max,
            samples,
            thread,
        }
    }

    /// Stops sampling; the most descriptors seen, and in how many samples.
    fn finish(self) -> (usize, usize) {
        self.running.store(false, Ordering::Relaxed);
        self.thread.join().expect("sampler");
        (
            self.max.load(Ordering::Relaxed),
            self.samples.load(Ordering::Relaxed),
        )
    }
}

fn assert_under_limit(what: &str, (max, samples): (usize, usize)) {
    if samples == 0 {
        skip(&format!("no /proc: descriptors of {what} not counted"));
        return;
    }
    assert!(
        (max as u64) < NOFILE,
        "{what}: {max} descriptors open at once, limit {NOFILE}"
    );
}

/// A small seeded generator (xorshift64*) to pick files.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

#[test]
fn thousands_of_files_under_a_1024_descriptor_limit_are_each_delivered_once() {
    let n = file_count();
    let s = Scenario::new();
    let logs = s.path("logs");
    let started = Instant::now();
    let lines = create_files(&logs, n);
    let created = started.elapsed();

    // --once: every file read, within the limit. The deadline, there only to
    // catch a hang, grows with the number of files.
    let started = Instant::now();
    let d = Daemon::start(limited(
        &s,
        &["--once", "--no-fsync", "-o", "out.txt", "logs/*.log"],
    ));
    let sampler = FdSampler::start(d.pid());
    let r = d.wait_exit_within(DEADLINE + Duration::from_millis(5 * n as u64));
    let once = started.elapsed();
    let once_fds = sampler.finish();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stderr.contains("Too many open files"), "{}", r.stderr);
    let first = s.read("out.txt");
    assert_each_line_once(&first, lines);

    // The daemon on the same files: resumed from the checkpoint, it reads
    // only what is appended. Its descriptors are sampled all along.
    let started = Instant::now();
    let d = Daemon::start(limited(
        &s,
        &["-i", "50ms", "--no-fsync", "-o", "out.txt", "logs/*.log"],
    ));
    let sampler = FdSampler::start(d.pid());
    // Signal handlers are in place once it logs; then a full cycle has
    // taken up every file again.
    d.wait_stderr("following");
    d.wait_cycles(1);

    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut picked = Vec::new();
    while picked.len() < 100 {
        let i = rng.below(n);
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    let mut appended = Vec::new();
    for &i in &picked {
        let line = format!("{}-3\n", name(i));
        OpenOptions::new()
            .append(true)
            .open(logs.join(format!("{}.log", name(i))))
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .expect("append");
        appended.push(line.trim_end().to_string());
    }
    let out = s.path("out.txt");
    let all = wait_file(&out, "the 100 appended lines", |b| {
        line_count(b) >= line_count(&first) + 100
    });
    d.wait_cycles(2);
    let daemon_fds = sampler.finish();
    let r = d.stop();
    let daemon = started.elapsed();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stderr.contains("Too many open files"), "{}", r.stderr);
    assert_eq!(
        s.read("out.txt"),
        all,
        "nothing more after the appended lines"
    );
    assert!(all.starts_with(&first));
    assert_each_line_once(&all[first.len()..], appended);

    eprintln!(
        "scale: {n} files created in {created:?}; --once in {once:?}, most descriptors \
         {} ({} samples); daemon run (start, 100 appends, stop) in {daemon:?}, most \
         descriptors {} ({} samples)",
        once_fds.0, once_fds.1, daemon_fds.0, daemon_fds.1
    );
    assert_under_limit("--once", once_fds);
    assert_under_limit("the daemon", daemon_fds);
}

/// Line `i` of the big file, about 100 bytes.
fn big_line(i: usize) -> String {
    format!("big-{i:08} {}\n", "x".repeat(86))
}

#[test]
fn small_busy_files_are_served_while_a_64_mib_backlog_is_caught_up() {
    let s = Scenario::new();
    let mut big = Vec::with_capacity(65 << 20);
    let mut count = 0;
    while big.len() < 64 << 20 {
        count += 1;
        big.extend_from_slice(big_line(count).as_bytes());
    }
    let last_big = big_line(count);
    s.write("big.log", &big);
    s.write("small-a.log", b"small-a-1\n");
    s.write("small-b.log", b"small-b-1\n");
    let d = s.spawn(&[
        "-i",
        "50ms",
        "--no-fsync",
        "-o",
        "out.txt",
        "big.log",
        "small-a.log",
        "small-b.log",
    ]);
    let out = s.path("out.txt");

    // Catching up has begun (the first large write is out); the small files
    // get new lines then, in one step as the collector sees it.
    wait_file(&out, "the first bytes", |b| !b.is_empty());
    d.freeze();
    let at_freeze = fs::metadata(&out).map_or(0, |m| m.len());
    s.append("small-a.log", &numbered("small-a", 2, 4));
    s.append("small-b.log", &numbered("small-b", 2, 4));
    d.thaw();

    let small_a = numbered("small-a", 1, 4);
    let small_b = numbered("small-b", 1, 4);
    let total = (big.len() + small_a.len() + small_b.len()) as u64;
    let done = wait_until("all bytes", || {
        (fs::metadata(&out).ok()?.len() >= total).then_some(())
    });
    assert!(
        done.is_some(),
        "{:?} of {total} bytes came\nstderr:\n{}",
        fs::metadata(&out).map(|m| m.len()),
        d.stderr()
    );
    d.stop_ok();
    let got = s.read("out.txt");
    assert_eq!(got.len() as u64, total, "no other lines");
    assert_same_bytes(&lines_starting_with(&got, "big-"), &big, "big.log's lines");
    assert_same_bytes(&lines_starting_with(&got, "small-a"), &small_a, "small-a");
    assert_same_bytes(&lines_starting_with(&got, "small-b"), &small_b, "small-b");

    // Positions by line: the small files' last lines come before the big one's,
    // unless the big file was all out before they were written.
    if at_freeze >= big.len() as u64 {
        skip("the whole backlog was delivered before the small files got their lines");
        return;
    }
    let position = |line: &[u8]| {
        got.split_inclusive(|&b| b == b'\n')
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("{} not found", String::from_utf8_lossy(line)))
    };
    let big_end = position(last_big.as_bytes());
    for line in ["small-a-4\n", "small-b-4\n"] {
        let at = position(line.as_bytes());
        assert!(
            at < big_end,
            "{} came as line {at}, after the big file's last line (line {big_end})",
            line.trim_end()
        );
    }
}

/// The soft descriptor limit of a running process, from /proc.
fn soft_nofile(pid: i32) -> Option<u64> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
#[allow(clippy::unnecessary_cast)] // rlim_t is 32 bits on 32-bit ARM
fn soft_descriptor_limit_is_raised_but_not_for_the_output_command() {
    // Soft 256 under a hard limit of at least 1024: a lower hard limit is
    // raised for the collector where that is allowed (CAP_SYS_RESOURCE, as
    // root has it), else the test is skipped.
    if soft_nofile(std::process::id() as i32).is_none() {
        skip("no /proc/<pid>/limits to read the collector's limit from");
        return;
    }
    let s = Scenario::new();
    s.append("a.log", b"one\n");
    let soft_256 = |cmd: &mut Command| {
        // SAFETY: between fork and exec only getrlimit and setrlimit, which
        // are async-signal-safe, and an io::Error from errno.
        unsafe {
            cmd.pre_exec(|| {
                let mut limit = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
                if (limit.rlim_max as u64) < NOFILE {
                    limit.rlim_max = NOFILE as libc::rlim_t;
                }
                limit.rlim_cur = 256;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    let mut probe = Command::new("true");
    soft_256(&mut probe);
    if let Err(e) = probe.status() {
        skip(&format!(
            "the hard descriptor limit is under {NOFILE} and cannot be raised: {e}"
        ));
        return;
    }
    let mut cmd = s.command(&["-o", "|ulimit -Sn > child-nofile; cat > out.txt", "a.log"]);
    soft_256(&mut cmd);
    let d = Daemon::start(cmd);
    wait_file(&s.path("out.txt"), "the line", |b| b == b"one\n");
    let raised = soft_nofile(d.pid()).expect("limits of the collector");
    assert!(raised > 256, "soft limit still {raised}");
    assert_eq!(s.read("child-nofile"), b"256\n", "the command's own limit");
    d.stop_ok();
}
