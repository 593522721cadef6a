//! Large backlogs: raw lines going to a regular file are copied in the
//! kernel a window at a time. The output must be the same bytes whichever
//! way they went: into a file, into stdout redirected to a file (appending
//! or not), onto another filesystem, mixed with a long line's pieces, and
//! across kill -9.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

/// Lines of 0..400 bytes (some empty), deterministic for a seed.
fn lines(seed: u32, total: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut out = Vec::with_capacity(total + 512);
    while out.len() < total {
        let len = next() % 400;
        for _ in 0..len {
            out.push(b' ' + (next() % 95) as u8);
        }
        out.push(b'\n');
    }
    out
}

fn lines_total(prom: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(prom);
    let line = text
        .lines()
        .find(|l| l.starts_with("log_collector_lines_total{"))
        .unwrap_or_else(|| panic!("no lines_total in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn large_backlog_into_a_file_is_byte_identical_and_counted() {
    let s = Scenario::new();
    let first = lines(1, 6 << 20);
    s.append("a.log", &first);
    s.append("a.log", b"an unfinished line");
    let r = s.once(&["-o", "out.log", "--stats-file", "m.prom", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.log"), &first, "first run");
    assert_eq!(lines_total(&s.read("m.prom")), line_count(&first) as u64);

    let second = lines(2, 3 << 20);
    s.append("a.log", b" ends here\n");
    s.append("a.log", &second);
    let r = s.once(&["-o", "out.log", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let mut want = first.clone();
    want.extend_from_slice(b"an unfinished line ends here\n");
    want.extend_from_slice(&second);
    assert_same_bytes(&s.read("out.log"), &want, "second run");
}

#[test]
fn long_lines_inside_a_large_backlog_still_come_in_pieces() {
    let s = Scenario::new();
    let mut input = Vec::new();
    let mut want = Vec::new();
    for i in 0..4u8 {
        let short = lines(u32::from(i) + 10, 1_500_000);
        input.extend_from_slice(&short);
        want.extend_from_slice(&short);
        // 2,500 bytes with --max-line-bytes 1000: pieces of 1000, 1000 and 500.
        let long: Vec<u8> = (0..2500)
            .map(|j| b'a' + ((j + usize::from(i)) % 26) as u8)
            .collect();
        input.extend_from_slice(&long);
        input.push(b'\n');
        for piece in long.chunks(1000) {
            want.extend_from_slice(piece);
            want.push(b'\n');
        }
    }
    s.write("a.log", &input);
    let r = s.once(&["--max-line-bytes", "1000", "-o", "out.log", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.log"), &want, "pieces among copies");
}

/// Runs `--once` on a.log with stdout going to `out`.
fn once_into(s: &Scenario, out: File) {
    let status = s
        .command(&["--once", "a.log"])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success());
}

#[test]
fn stdout_redirected_to_a_file_gets_the_same_bytes_appending_or_not() {
    let s = Scenario::new();
    let first = lines(3, 5 << 20);
    s.append("a.log", &first);
    // `> out`: a plain regular file, shared position.
    once_into(&s, File::create(s.path("out")).unwrap());
    assert_same_bytes(&s.read("out"), &first, "stdout > file");

    // `>> out` after something else wrote to it: appended after that.
    let second = lines(4, 3 << 20);
    s.append("a.log", &second);
    fs::write(s.path("out2"), b"header\n").unwrap();
    let append = OpenOptions::new()
        .append(true)
        .open(s.path("out2"))
        .unwrap();
    once_into(&s, append);
    let mut want = b"header\n".to_vec();
    want.extend_from_slice(&second);
    assert_same_bytes(&s.read("out2"), &want, "stdout >> file");
}

#[test]
fn output_on_another_filesystem_gets_the_same_bytes() {
    // /dev/shm is a tmpfs on most Linux systems: copies across filesystems
    // are refused by the kernel and the collector writes instead.
    let other = std::path::Path::new("/dev/shm");
    let s = Scenario::new();
    let shm = match tempfile::tempdir_in(other) {
        Ok(shm) => shm,
        Err(e) => {
            skip(&format!("no directory can be made in /dev/shm: {e}"));
            return;
        }
    };
    if fs::metadata(shm.path()).unwrap().dev() == fs::metadata(s.path(".")).unwrap().dev() {
        skip("/dev/shm is on the temp dir's filesystem");
        return;
    }
    let input = lines(5, 5 << 20);
    s.append("a.log", &input);
    let out = shm.path().join("out.log");
    let r = s.once(&["-o", out.to_str().unwrap(), "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&fs::read(&out).unwrap(), &input, "across filesystems");
}

#[test]
fn kill9_during_large_copies_then_restart_is_exactly_once() {
    let s = Scenario::new();
    let mut all = Vec::new();
    for round in 0..4u32 {
        let more = lines(20 + round, 12 << 20);
        s.append("a.log", &more);
        all.extend_from_slice(&more);
        let d = s.spawn(&["-o", "out.log", "a.log"]);
        // Killed somewhere in the copy: as soon as the output has grown.
        let before = fs::metadata(s.path("out.log")).map_or(0, |m| m.len());
        let grew = wait_until("the output to grow", || {
            let now = fs::metadata(s.path("out.log")).map_or(0, |m| m.len());
            (now > before).then_some(())
        });
        assert!(
            grew.is_some(),
            "round {round}: timed out waiting for out.log to grow past {before} bytes\nstderr:\n{}",
            d.stderr()
        );
        // Not a wait: part of the scenario, so that each round's kill falls
        // at another point of the copy (0, 7, 14, 21 ms after it began).
        std::thread::sleep(Duration::from_millis(u64::from(round) * 7));
        d.kill9();
    }
    let r = s.once(&["-o", "out.log", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.log"), &all, "after kill -9s");
    let mut f = OpenOptions::new()
        .append(true)
        .open(s.path("a.log"))
        .unwrap();
    f.write_all(b"last\n").unwrap();
    let r = s.once(&["-o", "out.log", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(s.read("out.log").ends_with(b"\nlast\n"));
}
