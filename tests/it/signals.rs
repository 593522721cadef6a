//! Signals: TERM and INT stop cleanly with the checkpoint saved, even when the
//! output no longer takes writes; HUP re-reads the config file and reopens a
//! file output; USR1 logs a stats line.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::util::*;

#[test]
fn sigterm_and_sigint_exit_0_with_the_checkpoint_saved() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let s = Scenario::new();
        s.append("app.log", b"one\ntwo\n");
        let d = s.spawn(&["-i", "20ms", "app.log"]);
        d.wait_stdout_eq(b"one\ntwo\n");
        d.signal(sig);
        let r = d.wait_exit();
        assert_eq!(r.code(), 0, "signal {sig}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "signal {sig}: {}", r.stderr);

        let r = s.once(&["app.log"]);
        assert_eq!(r.code(), 0, "signal {sig}: {}", r.stderr);
        assert_eq!(r.stdout, b"", "signal {sig}: nothing is sent twice");
    }
}

#[test]
fn sigterm_in_the_middle_of_a_backlog_saves_what_was_written() {
    let s = Scenario::new();
    let all = numbered(
        "a line of the backlog, padded to a realistic length",
        1,
        60_000,
    );
    s.append("app.log", &all);
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout("some output", |out| !out.is_empty());
    let first = d.stop();
    assert_eq!(first.code(), 0, "{}", first.stderr);

    let second = s.once(&["app.log"]);
    assert_eq!(second.code(), 0, "{}", second.stderr);
    assert_delivered_at_least_once(&first.stdout, &second.stdout, &all);
    // A write the output did not take within the grace period is abandoned,
    // and then its lines may come again; otherwise nothing may.
    if !first.stderr.contains("did not take the last write") {
        assert_same_bytes(
            &[first.stdout, second.stdout].concat(),
            &all,
            "both runs' output",
        );
    }
}

#[test]
fn sigusr1_logs_one_stats_line_at_info() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(b"one\n");
    d.signal(libc::SIGUSR1);
    d.wait_stderr("stats:");
    let stderr = d.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("stats:"))
        .expect("a stats line");
    let message = line
        .split_once(" INFO ")
        .unwrap_or_else(|| panic!("not logged at info: {line:?}"))
        .1;
    assert!(message.trim_start().starts_with("stats:"), "{line:?}");

    // It keeps running, one line per signal, and logs stay off the output.
    s.append("app.log", b"two\n");
    d.wait_stdout_eq(b"one\ntwo\n");
    d.signal(libc::SIGUSR1);
    d.wait_stderr_count("stats:", 2);
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches("stats:").count(), 2, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\ntwo\n");
}

#[test]
fn sighup_rereads_the_config_file() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    // Not followed yet: its line must not come out before the reload.
    s.append("b.log", b"b0\n");
    s.write("collector.conf", b"# follows a.log only\npath = a.log\n");
    let d = s.spawn(&["-c", "collector.conf", "-i", "20ms"]);
    d.wait_stdout_eq(b"a1\n");

    s.write("collector.conf", b"path = b.log\n");
    d.signal(libc::SIGHUP);
    // b.log appeared to the collector after start-up: read from its start.
    d.wait_stdout_eq(b"a1\nb0\n");
    s.append("b.log", b"b1\n");
    d.wait_stdout_eq(b"a1\nb0\nb1\n");

    // A broken file on reload is reported by file:line and changes nothing.
    s.write("collector.conf", b"path = a.log\nno equals sign here\n");
    d.signal(libc::SIGHUP);
    d.wait_stderr("collector.conf:2");
    s.append("b.log", b"b2\n");
    d.wait_stdout_eq(b"a1\nb0\nb1\nb2\n");
    d.stop_ok();
}

#[test]
fn sighup_reopens_a_rotated_output_file() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    wait_file_eq(&s.path("out.txt"), b"one\n");

    s.rename("out.txt", "out.txt.1");
    d.signal(libc::SIGHUP);
    // Reopening creates the file again: after that, lines go there.
    wait_until("out.txt reopened", || {
        s.path("out.txt").exists().then_some(())
    })
    .expect("out.txt was not created again after SIGHUP");
    s.append("app.log", b"two\n");
    wait_file_eq(&s.path("out.txt"), b"two\n");
    assert_eq!(s.read("out.txt.1"), b"one\n");
    d.stop_ok();
}

/// Opens a FIFO's read end without blocking for a writer.
fn fifo_reader(s: &Scenario, name: &str) -> File {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.path(name))
        .expect("open FIFO for reading")
}

/// Bytes waiting in a pipe, and the pipe's capacity.
fn pipe_fill(f: &File) -> (usize, usize) {
    let mut queued: libc::c_int = 0;
    // SAFETY: ioctl and fcntl on a descriptor we own, with an int out-parameter.
    let capacity = unsafe {
        assert_eq!(libc::ioctl(f.as_raw_fd(), libc::FIONREAD, &mut queued), 0);
        libc::fcntl(f.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    assert!(capacity > 0, "F_GETPIPE_SZ failed");
    (queued as usize, capacity as usize)
}

#[test]
fn sigterm_with_a_stalled_fifo_reader_still_exits_0() {
    let s = Scenario::new();
    // Several times a pipe's capacity, so the collector's write must block.
    let all = numbered("a line nobody reads", 1, 20_000);
    s.append("app.log", &all);
    s.mkfifo("out.fifo");
    let mut reader = fifo_reader(&s, "out.fifo");
    let d = s.spawn(&["-i", "20ms", "-o", "out.fifo", "app.log"]);
    // Full: written in whole lines of at most PIPE_BUF bytes, the pipe
    // takes no more once less than one such write fits.
    wait_until("a full pipe", || {
        let (queued, capacity) = pipe_fill(&reader);
        (queued > capacity - libc::PIPE_BUF).then_some(())
    })
    .unwrap_or_else(|| panic!("the FIFO never filled up\nstderr:\n{}", d.stderr()));

    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);

    // The checkpoint covers at most what reached the FIFO: the rest comes
    // on the next run.
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("read FIFO: {e}"),
        }
    }
    let next = s.once(&["app.log"]);
    assert_eq!(next.code(), 0, "{}", next.stderr);
    assert_delivered_at_least_once(&got, &next.stdout, &all);
}

#[test]
fn sigterm_while_waiting_for_a_fifo_reader_exits_0() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    s.mkfifo("out.fifo");
    let d = s.spawn(&["-i", "20ms", "-o", "out.fifo", "app.log"]);
    d.wait_stderr("waiting for a reader");
    d.stop_ok();
    // Nothing was delivered, so nothing may be checkpointed as delivered.
    let next = s.once(&["app.log"]);
    assert_eq!(next.code(), 0, "{}", next.stderr);
    assert_eq!(next.stdout, b"one\n");
}
