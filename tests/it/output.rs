//! Where lines go: a regular file (appended, created 0640, reopened on
//! SIGHUP), a FIFO, and stdout closed under the collector's feet.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread;

use crate::util::*;

#[test]
fn output_file_that_exists_is_appended_to() {
    let s = Scenario::new();
    s.write("out.txt", b"already here\n");
    s.write("a.log", b"one\ntwo\n");
    let r = s.once(&["-o", "out.txt", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"", "nothing goes to stdout");
    assert_eq!(s.read("out.txt"), b"already here\none\ntwo\n");
    s.append("a.log", b"three\n");
    s.once(&["-o", "out.txt", "a.log"]);
    assert_eq!(s.read("out.txt"), b"already here\none\ntwo\nthree\n");
}

#[test]
fn new_output_file_is_created_with_mode_0640() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let r = s.once(&["-o", "out.txt", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(s.read("out.txt"), b"one\n");
    // The child inherits our umask, which clears its bits from 0640.
    match process_umask() {
        Some(umask) => assert_eq!(mode(&s.path("out.txt")), 0o640 & !umask),
        None => skip("no umask in /proc/self/status: the mode is not checked"),
    }
}

#[test]
fn fifo_output_receives_the_lines() {
    let s = Scenario::new();
    s.mkfifo("out.fifo");
    s.write("a.log", b"one\r\ntwo\n\n");
    let fifo = s.path("out.fifo");
    let reader = {
        let fifo = fifo.clone();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            File::open(fifo)
                .expect("open FIFO for reading")
                .read_to_end(&mut bytes)
                .expect("read FIFO");
            bytes
        })
    };
    let r = s.once(&["-o", "out.fifo", "a.log"]);
    // If the collector never opened the FIFO, the reader is still blocked in
    // open(); a writer of our own lets it go instead of hanging the test.
    let _ = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    let got = reader.join().expect("reader thread");
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"");
    assert_eq!(got, b"one\r\ntwo\n\n");
}

#[test]
fn stdout_closed_early_exits_1_with_one_clear_line_and_the_next_run_loses_nothing() {
    let s = Scenario::new();
    let first = numbered("line", 1, 1);
    s.write("a.log", &first);
    let mut child = s
        .command(&["-i", "20ms", "a.log"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start log-collector");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let stderr_reader = {
        let stderr = Arc::clone(&stderr);
        let mut from = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = from.read_to_end(&mut bytes);
            *stderr.lock().unwrap() = bytes;
        })
    };

    // Everything read from the pipe counts as received, even past line 1.
    let mut stdout = child.stdout.take().unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !received.contains(&b'\n') {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    drop(stdout);
    let all = numbered("line", 1, 2000);
    s.append("a.log", &all[first.len()..]);

    let status = wait_child(&mut child);
    stderr_reader.join().unwrap();
    let stderr = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(all.starts_with(&received), "{received:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("backtrace"), "{stderr}");
    // Its own messages (not log lines) start with the program name; a hint may follow.
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("log-collector: ") && !l.starts_with("log-collector: hint:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("stdout"), "{stderr}");

    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    // At-least-once: the next run starts at a line boundary no later than
    // what the reader got, and goes to the end.
    let next = r.stdout;
    assert!(
        next.len() >= all.len() - received.len(),
        "lost lines: the next run printed only {} bytes, {} were never received",
        next.len(),
        all.len() - received.len()
    );
    let skipped = &all[..all.len() - next.len()];
    assert!(skipped.is_empty() || skipped.ends_with(b"\n"));
    assert_same_bytes(&next, &all[skipped.len()..], "next run");
}

#[test]
fn sighup_after_the_output_file_was_renamed_writes_to_a_new_file() {
    let s = Scenario::new();
    s.write("a.log", b"");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    s.append("a.log", b"one\n");
    wait_file(&s.path("out.txt"), "one", |b| b == b"one\n");
    s.rename("out.txt", "out.txt.1");
    d.signal(libc::SIGHUP);
    d.wait_stderr("reopened");
    s.append("a.log", b"two\n");
    wait_file(&s.path("out.txt"), "two in the new file", |b| b == b"two\n");
    s.append("a.log", b"three\n");
    wait_file(&s.path("out.txt"), "three", |b| b == b"two\nthree\n");
    d.stop_ok();
    assert_eq!(s.read("out.txt.1"), b"one\n");
    assert_eq!(s.read("out.txt"), b"two\nthree\n");
}
