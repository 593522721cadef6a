//! Things going wrong on purpose: an output command that dies, a FIFO reader
//! that goes away, a file output that cannot grow, a checkpoint that cannot
//! be saved, a state dir that cannot be used.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::process::CommandExt;

use crate::util::*;

/// The pids of a process's children (Linux /proc).
fn children(pid: i32) -> Vec<i32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kills a process and all its descendants.
fn kill_tree(pid: i32) {
    for child in children(pid) {
        kill_tree(child);
    }
    // SAFETY: kill with a pid read from /proc and a valid signal.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Each line of `all` appears in `got`, in order, repeats allowed (at-least-once).
fn assert_each_line_in_order(got: &[u8], all: &[u8]) {
    let mut want = all.split_inclusive(|&b| b == b'\n').peekable();
    for line in got.split_inclusive(|&b| b == b'\n') {
        if want.peek() == Some(&line) {
            want.next();
        }
    }
    let missing: Vec<_> = want
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert!(missing.is_empty(), "lines never delivered: {missing:?}");
}

#[test]
fn command_output_gets_the_lines_and_finishes_them_on_sigterm() {
    let s = Scenario::new();
    s.write("a.log", &numbered("line", 1, 100));
    let d = s.spawn(&["-i", "20ms", "-o", "|cat >> out.txt", "a.log"]);
    wait_file_eq(&s.path("out.txt"), &numbered("line", 1, 100));
    s.append("a.log", &numbered("line", 101, 200));
    wait_file_eq(&s.path("out.txt"), &numbered("line", 1, 200));
    d.stop_ok();
    assert_eq!(s.read("out.txt"), numbered("line", 1, 200));
}

#[test]
fn command_that_dies_is_started_again_and_nothing_is_lost() {
    let s = Scenario::new();
    s.write("a.log", &numbered("line", 1, 50));
    let d = s.spawn(&["-i", "20ms", "-o", "|cat >> out.txt", "a.log"]);
    wait_file_eq(&s.path("out.txt"), &numbered("line", 1, 50));
    for child in children(d.pid()) {
        kill_tree(child);
    }
    s.append("a.log", &numbered("line", 51, 120));
    d.wait_stderr("started it again");
    let all = numbered("line", 1, 120);
    let got = wait_file(&s.path("out.txt"), "every line", |b| {
        b.ends_with(b"line-120\n")
    });
    assert_each_line_in_order(&got, &all);
    d.stop_ok();
}

#[test]
fn command_that_cannot_start_keeps_being_retried_without_spinning() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    // `exit 3` reads nothing: each attempt fails and is logged, with backoff.
    let d = s.spawn(&["-i", "20ms", "-o", "|exit 3", "a.log"]);
    d.wait_stderr("exited with status 3");
    d.stop_ok();
    // Nothing was confirmed: the line is still due.
    assert_eq!(s.once(&["a.log"]).stdout, b"one\n");
}

#[test]
fn fifo_reader_that_goes_away_is_waited_for_and_lines_are_sent_again() {
    let s = Scenario::new();
    s.mkfifo("pipe");
    s.write("a.log", &numbered("line", 1, 20));
    let d = s.spawn(&["-i", "20ms", "-o", "pipe", "a.log"]);
    let mut first = Vec::new();
    {
        let mut reader = File::open(s.path("pipe")).expect("open FIFO");
        let mut buf = [0u8; 4096];
        while !first.ends_with(b"line-20\n") {
            let n = reader.read(&mut buf).expect("read FIFO");
            assert!(n > 0, "FIFO closed early");
            first.extend_from_slice(&buf[..n]);
        }
    } // The reader goes away.
    assert_eq!(first, numbered("line", 1, 20));
    s.append("a.log", &numbered("line", 21, 40));
    d.wait_stderr("waiting for a reader");
    let mut second = Vec::new();
    let mut reader = File::open(s.path("pipe")).expect("open FIFO again");
    let mut buf = [0u8; 4096];
    while !second.ends_with(b"line-40\n") {
        let n = reader.read(&mut buf).expect("read FIFO");
        assert!(n > 0, "FIFO closed early");
        second.extend_from_slice(&buf[..n]);
    }
    let mut both = first.clone();
    both.extend_from_slice(&second);
    assert_each_line_in_order(&both, &numbered("line", 1, 40));
    d.stop_ok();
}

#[test]
fn file_output_that_cannot_grow_is_retried_and_ends_exactly_once() {
    let s = Scenario::new();
    let all = numbered("a line that fills the output file", 1, 400);
    s.write("a.log", &all);
    let mut cmd = s.command(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4000,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let d = Daemon::start(cmd);
    d.wait_stderr("cannot write to output file");
    // The failed cycle was undone: the output holds whole confirmed lines only.
    let partial = s.read("out.txt");
    assert!(partial.len() <= 4000);
    assert!(
        all.starts_with(&partial),
        "the output is a prefix of the log"
    );
    // Space comes back.
    let raised = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on our own child with a valid rlimit struct.
    let rc = unsafe { libc::prlimit(d.pid(), libc::RLIMIT_FSIZE, &raised, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    wait_file_eq(&s.path("out.txt"), &all);
    d.wait_stderr("works again");
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(s.read("out.txt"), all, "exactly once");
    assert_eq!(
        r.stderr.matches("cannot write to output file").count(),
        1,
        "logged once per episode"
    );
}

#[test]
fn checkpoint_that_cannot_be_saved_is_retried_while_lines_keep_flowing() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    wait_file_eq(&s.path("out.txt"), b"one\n");
    block_checkpoint_saves(&s);
    s.append("a.log", b"two\n");
    d.wait_stderr("cannot save checkpoint");
    wait_file_eq(&s.path("out.txt"), b"one\ntwo\n");
    fs::remove_dir(s.state.join("checkpoints.tmp")).unwrap();
    d.wait_stderr("saved again");
    d.stop_ok();
    assert_eq!(s.once(&["-o", "out.txt", "a.log"]).code(), 0);
    assert_eq!(
        s.read("out.txt"),
        b"one\ntwo\n",
        "nothing repeated after the saves resumed"
    );
}

#[test]
fn unusable_state_dir_is_a_clear_error_at_start() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    s.write("plain-file", b"");
    let r = Daemon::start(s.bare_command(&["--once", "--state-dir", "plain-file/state", "a.log"]))
        .wait_exit();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("state dir") && first.contains("plain-file/state"),
        "{first}"
    );
    assert!(!r.stderr.contains("panicked"));
    assert_eq!(
        r.stdout, b"",
        "nothing delivered without a usable state dir"
    );
}

#[test]
fn a_blocked_output_does_not_keep_a_deleted_file_open_or_stop_usr1() {
    let s = Scenario::new();
    s.mkfifo("pipe");
    s.write("a.log", b"a-1\n");
    s.write("b.log", b"b-1\n");
    let d = s.spawn(&["-i", "500ms", "-o", "pipe", "a.log", "b.log"]);
    let mut reader = File::open(s.path("pipe")).expect("open FIFO");
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while line_count(&got) < 2 {
        let n = reader.read(&mut buf).expect("read FIFO");
        got.extend_from_slice(&buf[..n]);
    }
    // a.log goes away while the collector still holds it (it changed lately).
    s.remove("a.log");
    d.wait_stderr("a.log was renamed away or deleted; reading the rest of it");
    // The reader stops reading and b.log has far more than a pipe holds.
    let big: Vec<u8> = (0..40_000)
        .flat_map(|i| format!("b-{i:05} {}\n", "x".repeat(50)).into_bytes())
        .collect();
    s.append("b.log", &big);
    // While the write waits, a.log, fully delivered and quiet, is let go.
    let closed = wait_until("a.log closed", || {
        let fds = fd_targets(d.pid())?;
        (!fds.iter().any(|f| f.contains("a.log"))).then_some(())
    });
    assert!(
        closed.is_some(),
        "a.log still open: {:?}",
        fd_targets(d.pid())
    );
    d.signal(libc::SIGUSR1);
    d.wait_stderr("the output is not taking data");
    // Then everything still arrives.
    let want = [b"a-1\nb-1\n".to_vec(), big].concat();
    while got.len() < want.len() {
        let n = reader.read(&mut buf).expect("read FIFO");
        assert!(n > 0, "FIFO closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert_same_bytes(&got, &want, "FIFO");
    d.stop_ok();
}
