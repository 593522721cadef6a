//! One test per defect found, named after what it checks: each failed on the
//! code it was written against and passes once the defect is fixed.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn a_deleted_idle_files_last_partial_line_is_delivered_with_a_newline_before_the_new_file() {
    let s = Scenario::new();
    s.append("app.log", b"a\nb");
    let d = s.spawn(&["-i", "50ms", "app.log"]);
    d.wait_stdout_eq(b"a\n");
    // Idle: the collector lets the file's descriptor go after two quiet
    // intervals, while `b` still waits for its newline. Waited for until it
    // is closed, or for five intervals where it stays open or /proc does
    // not tell.
    let started = Instant::now();
    let target = fs::canonicalize(s.path("app.log")).unwrap();
    let waited = wait_until("app.log closed or five intervals", || {
        let open =
            fd_targets(d.pid()).is_some_and(|fds| fds.iter().any(|f| Path::new(f) == target));
        (!open || started.elapsed() > Duration::from_millis(250)).then_some(())
    });
    assert!(
        waited.is_some(),
        "timed out waiting for app.log to be closed or five intervals to pass\nstderr:\n{}",
        d.stderr()
    );
    d.wait_cycles(1);
    s.remove("app.log");
    s.append("app.log", b"c\n");
    d.wait_stdout("the new file's line", |out| out.ends_with(b"c\n"));
    let r = d.stop_ok();
    assert_eq!(
        r.stdout_str(),
        "a\nb\nc\n",
        "the deleted file's partial line, then the new file\nstderr:\n{}",
        r.stderr
    );
}

/// Rewrites the checkpoint so that its one file's offset is `offset`, its
/// recorded size left as it is; checks that size is the file's real size.
fn checkpoint_offset(s: &Scenario, file: &Path, offset: u64) {
    let path = s.checkpoint_path();
    let text = fs::read_to_string(&path).expect("read the checkpoint");
    let size = fs::metadata(file).expect("stat").len();
    let mut files = 0;
    let edited: Vec<String> = text
        .lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(' ').collect();
            if fields[0] != "file" {
                return line.to_string();
            }
            // file <dev> <ino> <born|-> <offset> <size> ...
            files += 1;
            assert_eq!(fields[5], size.to_string(), "recorded size: {line}");
            let offset = offset.to_string();
            fields[4] = &offset;
            fields.join(" ")
        })
        .collect();
    assert_eq!(files, 1, "one file in the checkpoint:\n{text}");
    fs::write(&path, edited.join("\n") + "\n").expect("write the checkpoint");
}

#[test]
fn a_checkpointed_offset_beyond_the_size_is_a_truncation_though_the_recorded_size_matches() {
    let s = Scenario::new();
    s.append("app.log", b"one\ntwo\n");
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout_str(), "one\ntwo\n");
    checkpoint_offset(&s, &s.path("app.log"), 20);

    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(
        r.stdout_str(),
        "one\ntwo\n",
        "read again from 0\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("truncated"), "not logged:\n{}", r.stderr);

    // Resumed at its end from then on.
    s.append("app.log", b"three\nfour\nfive\n");
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout_str(), "three\nfour\nfive\n", "{}", r.stderr);
}

#[test]
fn a_checkpointed_offset_beyond_the_size_is_a_truncation_though_the_file_grows_past_it_at_once() {
    let s = Scenario::new();
    s.append("app.log", b"one\ntwo\n");
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    checkpoint_offset(&s, &s.path("app.log"), 20);

    // The daemon's first cycle, then growth past the checkpointed offset
    // before its second: a cycle every hour, and one on each SIGUSR1.
    let sock_path = s.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut cmd = s.command(&["-i", "1h", "app.log"]);
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let d = Daemon::start(cmd);
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap_or_else(|e| {
        panic!(
            "no READY after the first cycle: {e}\nstderr:\n{}",
            d.stderr()
        )
    });
    assert!(buf[..n].starts_with(b"READY=1"), "{:?}", &buf[..n]);
    s.append("app.log", b"three\nfour\nfive\n");
    d.wait_cycles(1);
    d.wait_stdout("the last line", |out| out.ends_with(b"ive\n"));
    let r = d.stop_ok();
    assert_eq!(
        r.stdout_str(),
        "one\ntwo\nthree\nfour\nfive\n",
        "read again from 0\nstderr:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("truncated"), "not logged:\n{}", r.stderr);
}

/// Gives a directory its mode back when dropped, so the temp dir can go.
struct ModeBack(PathBuf, u32);

impl Drop for ModeBack {
    fn drop(&mut self) {
        let _ = fs::set_permissions(&self.0, fs::Permissions::from_mode(self.1));
    }
}

/// `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH` (linux/capability.h).
const PERMISSION_OVERRIDES: [libc::c_ulong; 2] = [1, 2];

/// Makes `cmd` run without the capabilities that pass over permission bits
/// (root has them): dropped from the bounding set before exec, they are not
/// regained. Where that is not allowed, nothing changes; the caller checks.
fn without_permission_overrides(cmd: &mut Command) {
    // SAFETY: between fork and exec only prctl, which is async-signal-safe;
    // its result is ignored.
    unsafe {
        cmd.pre_exec(|| {
            for cap in PERMISSION_OVERRIDES {
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
            Ok(())
        });
    }
}

/// A line written in two halves around a spell in which the directory that
/// holds the followed file cannot be read (mode 000, for a collector without
/// the capabilities that pass over it): the line must come out whole, and
/// nothing be taken for gone. The collector follows `pattern`, run from
/// inside the directory if `from_inside`.
fn through_an_unreadable_directory(pattern: &str, from_inside: bool) {
    let s = Scenario::new();
    let dir = s.path("d");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    s.append("d/app.log", b"one\n");
    let _back = ModeBack(dir.clone(), 0o755);

    // Whether a process started like the collector is stopped by the mode.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).unwrap();
    let mut probe = Command::new("cat");
    probe.arg(s.path("d/app.log")).current_dir(s.dir.path());
    without_permission_overrides(&mut probe);
    let readable = probe.output().map(|o| o.status.success()).unwrap_or(false);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    if readable {
        skip("a directory of mode 000 does not stop the collector here");
        return;
    }

    let mut cmd = s.command(&["-i", "100ms", pattern]);
    if from_inside {
        cmd.current_dir(&dir);
    }
    without_permission_overrides(&mut cmd);
    let d = Daemon::start(cmd);
    d.wait_stdout_eq(b"one\n");
    s.append("d/app.log", b"two\nthr");
    d.wait_stdout_eq(b"one\ntwo\n");
    // The file is still there, only out of reach: no reason to drain it
    // and send `thr` as a line of its own.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).unwrap();
    d.wait_cycles(3);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    s.append("d/app.log", b"ee\n");
    d.wait_stdout("the rest of the line", |out| out.ends_with(b"ee\n"));
    let r = d.stop_ok();
    assert_eq!(r.stdout_str(), "one\ntwo\nthree\n", "stderr:\n{}", r.stderr);
    for gone in ["renamed away or deleted", "is gone", "does not exist"] {
        assert!(
            !r.stderr.contains(gone),
            "an unreadable directory was taken for the file's absence ({gone:?}):\n{}",
            r.stderr
        );
    }
}

#[test]
fn an_unreadable_pattern_directory_is_not_taken_for_the_files_absence() {
    through_an_unreadable_directory("d/*.log", false);
}

#[test]
fn copies_left_by_two_copytruncates_are_not_read_again_when_the_file_is_deleted_and_recreated() {
    // Found by the model test: every copy beside the path is born after the
    // file it copies, so once the file was deleted and another created,
    // copies older than the last truncation passed for generations rotated
    // away between two looks and were delivered a second time.
    let s = Scenario::new();
    let once = || {
        let r = s.once(&["-o", "out.txt", "app.log"]);
        assert_eq!(r.code(), 0, "{}", r.stderr);
    };
    s.append("app.log", b"g0-1\n");
    once();
    s.copytruncate("app.log", "app.log.1");
    s.append("app.log", b"g2-1\n");
    once();
    s.rename("app.log.1", "app.log.2");
    s.copytruncate("app.log", "app.log.1");
    once();
    s.remove("app.log");
    once();
    s.append("app.log", b"g5-1\n");
    once();
    assert_same_bytes(&s.read("out.txt"), b"g0-1\ng2-1\ng5-1\n", "out.txt");
}

#[test]
fn partial_lines_held_open_do_not_take_the_descriptor_budget_from_other_files() {
    // With a limit of 80 descriptors, followed files may hold 8. Eight idle
    // files with a partial line each kept theirs, and a new file was never
    // opened.
    let s = Scenario::new();
    fs::create_dir(s.path("logs")).unwrap();
    for i in 0..8 {
        s.append(
            &format!("logs/p{i}.log"),
            format!("line {i}\npartial").as_bytes(),
        );
    }
    let mut cmd = s.command(&["-i", "50ms", "logs/*.log"]);
    // SAFETY: between fork and exec only setrlimit, which is async-signal-safe,
    // and building an io::Error from errno, which does not allocate.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 80,
                rlim_max: 80,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let d = Daemon::start(cmd);
    d.wait_stdout("the eight first lines", |out| line_count(out) == 8);
    d.wait_cycles(4);
    s.append("logs/q.log", b"hello\n");
    d.wait_stdout("the new file's line", |out| out.ends_with(b"hello\n"));
    s.append("logs/q.log", b"more\n");
    d.wait_stdout("its next line", |out| out.ends_with(b"hello\nmore\n"));
    d.stop_ok();
}

#[test]
fn a_file_whose_reads_keep_failing_does_not_spin_the_loop_and_once_ends() {
    // A read error left the file's bytes "unread", which the loop took for a
    // backlog: it ran again at once, for ever, and --once never ended. The
    // error is made by a preloaded library that fails every read of bad.log
    // past its first 10 bytes.
    if std::env::var_os("LOG_COLLECTOR_TEST_RUNNER").is_some() {
        skip("the preloaded library is built for this machine, not the runner's target");
        return;
    }
    let s = Scenario::new();
    let shim = s.path("eio.so");
    fs::write(
        s.path("eio.c"),
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
static int bad(int fd) {
    char p[64], t[4096];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, t, sizeof t - 1);
    if (n < 0) return 0;
    t[n] = 0;
    return strstr(t, "bad.log") != NULL;
}
ssize_t pread64(int fd, void *buf, size_t count, off_t off) {
    static ssize_t (*real)(int, void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pread64");
    if (off + (off_t)count > 10 && bad(fd)) { errno = EIO; return -1; }
    return real(fd, buf, count, off);
}
ssize_t pread(int fd, void *buf, size_t count, off_t off) { return pread64(fd, buf, count, off); }
"#,
    )
    .unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(s.path("eio.c"))
        .arg("-ldl")
        .output();
    if !built.is_ok_and(|o| o.status.success()) {
        skip("no C compiler to build the library that fails reads");
        return;
    }
    s.append("bad.log", b"aaaa\nbbbb\n");
    let r = s.once(&["-o", "out.txt", "bad.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    s.append("bad.log", b"cccc\n");
    let mut cmd = s.command(&["--once", "-o", "out.txt", "bad.log"]);
    cmd.env("LD_PRELOAD", &shim);
    // Ends (the harness fails a run that does not end within its deadline),
    // having said why the rest was not read.
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"aaaa\nbbbb\n", "out.txt");
}

#[test]
fn a_removed_pattern_directory_takes_its_files_with_it() {
    // A directory that is gone is not one that cannot be read: its files
    // are gone too, a partial line goes out, and the descriptor is let go.
    let s = Scenario::new();
    fs::create_dir_all(s.path("d/logs")).unwrap();
    s.append("d/logs/a.log", b"line1\npartial");
    let d = s.spawn(&["-i", "50ms", "d/logs/*.log"]);
    d.wait_stdout_eq(b"line1\n");
    d.wait_cycles(2);
    fs::remove_dir_all(s.path("d/logs")).unwrap();
    d.wait_stdout("the partial line, with a newline", |out| {
        out.ends_with(b"partial\n")
    });
    let released = wait_until("a.log's descriptor let go", || {
        let fds = fd_targets(d.pid())?;
        (!fds.iter().any(|f| f.contains("a.log"))).then_some(())
    });
    assert!(
        released.is_some(),
        "timed out waiting for the deleted a.log's descriptor to be let go: {:?}\nstderr:\n{}",
        fd_targets(d.pid()),
        d.stderr()
    );
    let r = d.stop_ok();
    assert_eq!(r.stdout_str(), "line1\npartial\n", "{}", r.stderr);
}

#[test]
fn an_unreadable_current_directory_is_not_taken_for_the_absence_of_files_a_bare_pattern_matched() {
    // `*.log` lists `.`: the files it matched have no directory in their
    // path, and were not recognised as being in the unreadable one.
    through_an_unreadable_directory("*.log", true);
}

/// 20,000 lines of 37 bytes: 740,000 bytes, more than a pipe holds, and a
/// full 64 KiB pipe ends inside a line (65,536 = 37 * 1,771 + 9).
fn pipe_test_lines() -> Vec<u8> {
    let all: Vec<u8> = (1..=20_000)
        .flat_map(|i| format!("pipe line {i:08} xxxxxxxxxxxxxxxxx\n").into_bytes())
        .collect();
    assert_eq!(all.len(), 20_000 * 37);
    all
}

/// Bytes waiting in the pipe behind `fd`.
fn pipe_unread(fd: &fs::File) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "FIONREAD: {}", std::io::Error::last_os_error());
    usize::try_from(n).unwrap_or(0)
}

/// Once the pipe behind `fd` is full (within one atomic write), kills the
/// collector: what is left in the pipe is what its reader gets before EOF.
/// Returns the killed collector's run, for its stderr.
fn kill_once_the_pipe_is_full(d: Daemon, fd: &fs::File) -> Run {
    let full = wait_until("the pipe full", || {
        (pipe_unread(fd) > 65_536 - 4_096).then_some(())
    });
    assert!(
        full.is_some(),
        "timed out waiting for the pipe to fill; unread {}\nstderr:\n{}",
        pipe_unread(fd),
        d.stderr()
    );
    d.kill9()
}

/// What a reader got from a collector killed mid-write: whole lines only.
fn assert_whole_lines_of(got: &[u8], all: &[u8]) {
    assert!(!got.is_empty(), "the reader got nothing");
    assert!(
        got.ends_with(b"\n") && all.starts_with(got),
        "the reader got {} bytes ending in {:?}: part of a line",
        got.len(),
        String::from_utf8_lossy(&got[got.len().saturating_sub(40)..])
    );
}

#[test]
fn a_fifo_reader_gets_no_part_of_a_line_when_the_collector_is_killed_mid_write() {
    // The reader takes nothing until the collector is dead, then reads to
    // end-of-file; a torn last line would reach it as a line of its own.
    let s = Scenario::new();
    s.mkfifo("out.fifo");
    let all = pipe_test_lines();
    s.write("a.log", &all);
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.path("out.fifo"))
        .expect("open the FIFO for reading");
    let d = s.spawn(&["-i", "20ms", "-o", "out.fifo", "a.log"]);
    kill_once_the_pipe_is_full(d, &reader);
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut got).expect("read the FIFO");
    assert_whole_lines_of(&got, &all);
}

#[test]
fn an_output_command_gets_no_part_of_a_line_when_the_collector_is_killed_mid_write() {
    // The command reads only once `go` exists; meanwhile its pipe fills.
    // kcat, for one, sends what it holds at end-of-file as a message. It
    // lets go of the collector's stdout and stderr, which the test reads to
    // their end once the collector is killed.
    let s = Scenario::new();
    let all = pipe_test_lines();
    s.write("a.log", &all);
    let d = s.spawn(&[
        "-i",
        "20ms",
        "-o",
        "|exec > /dev/null 2>&1; while [ ! -e go ]; do sleep 0.01; done; cat > got.tmp && mv got.tmp got.txt",
        "a.log",
    ]);
    let command = wait_until("the output command", || {
        let path = format!("/proc/{}/task/{}/children", d.pid(), d.pid());
        let children = fs::read_to_string(path).unwrap_or_default();
        children.split_whitespace().next()?.parse::<i32>().ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "timed out waiting for the collector to start its output command\nstderr:\n{}",
            d.stderr()
        )
    });
    // A descriptor of our own on the command's stdin, to see how full it is.
    let pipe = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/{command}/fd/0"))
        .expect("open the command's stdin");
    let killed = kill_once_the_pipe_is_full(d, &pipe);
    drop(pipe);
    s.write("go", b"");
    let got = wait_until("what the command read", || fs::read(s.path("got.txt")).ok())
        .unwrap_or_else(|| {
            panic!(
                "timed out waiting for the output command to write got.txt\nstderr:\n{}",
                killed.stderr
            )
        });
    assert_whole_lines_of(&got, &all);
}
