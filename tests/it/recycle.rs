//! A followed file is deleted, a new file at its path gets its freed inode
//! number, that one is rotated away, and a third is created at the path: the
//! middle generation must be read although its inode is the one the
//! checkpoint names for the first file.
//!
//!     printf 'A1\nA2\n' > app.log; log-collector --once -o out.txt app.log
//!     rm app.log; printf 'B1\nB2\nB3\n' > app.log; mv app.log app.log.1
//!     printf 'C1\n' > app.log; log-collector --once -o out.txt app.log
//!
//! expects A1 A2 B1 B2 B3 C1, once each, whether the collector was stopped
//! or running (frozen) while it happened. Whether B gets A's inode number is
//! up to the filesystem (ext4 usually hands it out at once): each test tries
//! a few times and reports a skip, not a pass, when it never does.

use std::fs;
use std::os::unix::fs::MetadataExt;

use crate::util::*;

const TRIES: usize = 20;

fn inode(s: &Scenario, name: &str) -> u64 {
    fs::metadata(s.path(name)).expect("stat").ino()
}

/// Deletes app.log and writes B there; whether B took A's inode number.
fn recreate_on_the_same_inode(s: &Scenario) -> bool {
    let a = inode(s, "app.log");
    s.remove("app.log");
    s.append("app.log", b"B1\nB2\nB3\n");
    inode(s, "app.log") == a
}

fn never_recycled() {
    skip(&format!(
        "the filesystem under the temp dir gave no new file a freed inode number in {TRIES} tries"
    ));
}

const WANT: &[u8] = b"A1\nA2\nB1\nB2\nB3\nC1\n";

/// The run after A, B and C were made while stopped delivers every line
/// once, and the run after it nothing more.
fn reads_every_generation_once(s: &Scenario) {
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), WANT, "out.txt");
    // A was fully delivered: nothing to warn about.
    assert!(!r.stderr.contains("not delivered"), "{}", r.stderr);
    // And nothing again on the next run.
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), WANT, "out.txt after a second run");
}

#[test]
fn generation_on_a_recycled_inode_rotated_while_stopped_is_read_before_the_next() {
    for _ in 0..TRIES {
        let s = Scenario::new();
        s.append("app.log", b"A1\nA2\n");
        let r = s.once(&["-o", "out.txt", "app.log"]);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        if !recreate_on_the_same_inode(&s) {
            continue;
        }
        s.rename("app.log", "app.log.1");
        s.append("app.log", b"C1\n");
        return reads_every_generation_once(&s);
    }
    never_recycled();
}

#[test]
fn generation_on_a_recycled_inode_rotated_between_two_looks_is_read_before_the_next() {
    for _ in 0..TRIES {
        let s = Scenario::new();
        s.append("app.log", b"A1\nA2\n");
        let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
        wait_file_eq(&s.path("out.txt"), b"A1\nA2\n");
        // Quiet for a few cycles: A's descriptor is let go (else its inode
        // could not be given to another file).
        d.wait_cycles(4);
        d.freeze();
        if !recreate_on_the_same_inode(&s) {
            d.thaw();
            d.stop_ok();
            continue;
        }
        s.rename("app.log", "app.log.1");
        s.append("app.log", b"C1\n");
        d.thaw();
        wait_file_eq(&s.path("out.txt"), WANT);
        d.wait_cycles(2);
        let r = d.stop_ok();
        assert_same_bytes(&s.read("out.txt"), WANT, "out.txt");
        assert!(!r.stderr.contains("not delivered"), "{}", r.stderr);
        return;
    }
    never_recycled();
}

/// The same while stopped, with the inode numbers the other way round: B is
/// made while A is still held open (so B gets another inode), and C, made
/// once A's inode is free, gets A's number. B was lost (`A1 A2 C1`): C was
/// taken for a new file on a recycled inode and nothing looked beside it.
#[test]
fn generation_rotated_while_stopped_is_read_when_the_next_takes_the_old_ones_inode_on_a_recycled_inode(
) {
    for _ in 0..TRIES {
        let s = Scenario::new();
        s.append("app.log", b"A1\nA2\n");
        let r = s.once(&["-o", "out.txt", "app.log"]);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        let a = inode(&s, "app.log");
        let held = fs::File::open(s.path("app.log")).expect("open A");
        s.remove("app.log");
        s.append("app.log", b"B1\nB2\nB3\n");
        s.rename("app.log", "app.log.1");
        drop(held);
        s.append("app.log", b"C1\n");
        if inode(&s, "app.log") != a {
            continue;
        }
        return reads_every_generation_once(&s);
    }
    never_recycled();
}
