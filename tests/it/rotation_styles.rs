//! Rotation styles beyond the basic ones of `rotation.rs`: rotation while the
//! collector was stopped (numbered, dateext, two generations), two rotations
//! within one interval, a writer still appending to a file that was renamed
//! while the collector had it closed, delete + recreate in a tight loop and on
//! a recycled inode, a symlink whose target changes, numbered names beside
//! compressed siblings, and a deleted file's descriptor being let go.
//!
//! Each test checks that every line arrives exactly once and in per-file
//! order, comparing the file output (`-o out.txt`) or a FIFO's bytes with
//! what was written.
//!
//! Not covered: a device-number change (an NFS remount, an LVM move) cannot
//! be made without root mounts.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt};

use crate::util::*;

/// A writer's descriptor, kept across renames as an application keeps it
/// until it reopens its log.
fn writer(s: &Scenario, name: &str) -> File {
    OpenOptions::new()
        .append(true)
        .open(s.path(name))
        .expect("open for append")
}

/// Waits until the collector holds no descriptor on `name` (it lets an idle
/// file go once it has been quiet for a while). Without /proc this cannot be
/// seen; a few cycles are waited for instead.
fn wait_closed(s: &Scenario, d: &Daemon, name: &str) {
    let path = fs::canonicalize(s.path(name))
        .expect("canonicalize")
        .to_string_lossy()
        .into_owned();
    if fd_targets(d.pid()).is_none() {
        d.wait_cycles(5);
        return;
    }
    let closed = wait_until("closed", || {
        (!fd_targets(d.pid())?.contains(&path)).then_some(())
    });
    assert!(
        closed.is_some(),
        "{name} is still held open: {:?}",
        fd_targets(d.pid())
    );
}

fn inode(s: &Scenario, name: &str) -> u64 {
    fs::metadata(s.path(name)).expect("stat").ino()
}

/// Runs `--once` into `out.txt` and checks it exits 0.
fn once_to_file(s: &Scenario, path: &str) -> Run {
    let r = s.once(&["-o", "out.txt", path]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    r
}

/// Rotated to `rotated` while the collector was stopped: the first run
/// delivered part of app.log, then the writer added lines and a partial
/// line, logrotate renamed the file and the writer started a new one.
fn rotation_while_stopped(rotated: &str) {
    let s = Scenario::new();
    s.append("app.log", &numbered("old", 1, 3));
    once_to_file(&s, "app.log");
    assert_eq!(s.read("out.txt"), numbered("old", 1, 3));

    s.append("app.log", &numbered("old", 4, 6));
    s.append("app.log", b"old partial");
    s.rename("app.log", rotated);
    s.append("app.log", &numbered("new", 1, 2));
    let r = once_to_file(&s, "app.log");
    assert!(r.stderr.contains(rotated), "{}", r.stderr);

    let want = [
        numbered("old", 1, 6),
        b"old partial\n".to_vec(),
        numbered("new", 1, 2),
    ]
    .concat();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");

    // Nothing more, and the new file resumes where it was.
    s.append("app.log", b"new-3\n");
    once_to_file(&s, "app.log");
    assert_same_bytes(
        &s.read("out.txt"),
        &[want, b"new-3\n".to_vec()].concat(),
        "out.txt",
    );
}

#[test]
fn rotation_to_a_numbered_name_while_stopped_drains_the_rest_and_its_partial_line_first() {
    rotation_while_stopped("app.log.1");
}

#[test]
fn rotation_to_a_dateext_name_while_stopped_drains_the_rest_and_its_partial_line_first() {
    rotation_while_stopped("app.log-20261124");
}

/// Two rotations while stopped: the checkpointed file ends up as app.log.2,
/// and app.log.1 is a generation the collector never saw.
fn rotate_twice(s: &Scenario) {
    s.append("app.log", &numbered("gen1", 4, 5));
    s.append("app.log", b"gen1 partial");
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen2", 1, 3));
    s.rename("app.log.1", "app.log.2");
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen3", 1, 2));
}

#[test]
fn two_rotations_while_stopped_drain_both_rotated_generations_oldest_first() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen1", 1, 3));
    once_to_file(&s, "app.log");

    rotate_twice(&s);
    once_to_file(&s, "app.log");
    let want = [
        numbered("gen1", 1, 5),
        b"gen1 partial\n".to_vec(),
        numbered("gen2", 1, 3),
        numbered("gen3", 1, 2),
    ]
    .concat();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn two_rotations_while_stopped_with_a_pattern_deliver_every_generation_once() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen1", 1, 3));
    once_to_file(&s, "app.log*");

    rotate_twice(&s);
    once_to_file(&s, "app.log*");
    let out = s.read("out.txt");
    // app.log.2 is still matched, so it is still followed; being a rotated
    // file, its partial line goes out with a newline added once it is quiet
    // (at once with --once). The generations the collector never saw are
    // taken on oldest first; each file's own lines keep their order.
    let gen1 = [numbered("gen1", 1, 5), b"gen1 partial\n".to_vec()].concat();
    assert_same_bytes(&lines_starting_with(&out, "gen1"), &gen1, "gen1");
    assert_same_bytes(
        &lines_starting_with(&out, "gen2"),
        &numbered("gen2", 1, 3),
        "gen2",
    );
    assert_same_bytes(
        &lines_starting_with(&out, "gen3"),
        &numbered("gen3", 1, 2),
        "gen3",
    );
    assert_eq!(line_count(&out), 11, "{}", String::from_utf8_lossy(&out));

    // What the old file gets later is still delivered, as a line of its own.
    s.append("app.log.2", b" ends\n");
    once_to_file(&s, "app.log*");
    assert!(
        s.read("out.txt").ends_with(b"\n ends\n"),
        "{}",
        String::from_utf8_lossy(&s.read("out.txt"))
    );
}

#[test]
fn two_rename_rotations_within_one_interval_deliver_the_middle_generation_too() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen1", 1, 3));
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    wait_file_eq(&s.path("out.txt"), &numbered("gen1", 1, 3));

    // All of it between two looks: gen2 is created, written and rotated away
    // before the collector can see it.
    d.freeze();
    s.append("app.log", &numbered("gen1", 4, 5));
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen2", 1, 3));
    s.rename("app.log.1", "app.log.2");
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen3", 1, 2));
    d.thaw();

    let want = [
        numbered("gen1", 1, 5),
        numbered("gen2", 1, 3),
        numbered("gen3", 1, 2),
    ]
    .concat();
    // gen3 comes last: once it is there, anything of gen2 would be too.
    wait_file(&s.path("out.txt"), "gen3-2", |b| b.ends_with(b"gen3-2\n"));
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn two_rename_rotations_within_one_interval_with_a_pattern_keep_every_generation_in_order() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen1", 1, 2));
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log*"]);
    let out = s.path("out.txt");
    wait_file_eq(&out, &numbered("gen1", 1, 2));
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen2", 1, 2));
    let mut want = [numbered("gen1", 1, 2), numbered("gen2", 1, 2)].concat();
    wait_file_eq(&out, &want);

    // Both followed files get a line nobody has read yet, then each moves
    // to the name the other one had, and a third file takes app.log: one
    // look sees every path hold another file.
    d.freeze();
    s.append("app.log.1", b"gen1-3\n");
    s.append("app.log", b"gen2-3\n");
    s.rename("app.log.1", "app.log.2");
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen3", 1, 2));
    d.thaw();
    want.extend_from_slice(b"gen1-3\ngen2-3\n");
    want.extend_from_slice(&numbered("gen3", 1, 2));
    wait_file_eq(&out, &want);

    s.append("app.log.2", b"gen1-4\n");
    want.extend_from_slice(b"gen1-4\n");
    wait_file_eq(&out, &want);
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn final_partial_line_of_a_rotated_file_the_pattern_still_matches_is_not_lost_when_deleted() {
    let s = Scenario::new();
    s.append("app.log", b"gen1-1\ngen1 partial");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log*"]);
    let out = s.path("out.txt");
    wait_file_eq(&out, b"gen1-1\n");

    s.rename("app.log", "app.log.1");
    s.append("app.log", b"gen2-1\n");
    wait_file(&out, "gen2-1", |b| b.ends_with(b"gen2-1\n"));
    // The writer has moved on: the rotated file stays quiet for well over
    // two intervals (each cycle is at least the 10 ms the wait polls at),
    // then logrotate's rotate count removes it.
    d.wait_cycles(10);
    s.remove("app.log.1");
    s.append("app.log", b"gen2-2\n");
    wait_file(&out, "gen2-2", |b| b.ends_with(b"gen2-2\n"));
    d.stop_ok();
    let got = s.read("out.txt");
    assert_same_bytes(
        &lines_starting_with(&got, "gen1"),
        b"gen1-1\ngen1 partial\n",
        "gen1",
    );
    assert_same_bytes(
        &lines_starting_with(&got, "gen2"),
        b"gen2-1\ngen2-2\n",
        "gen2",
    );
}

#[test]
fn writer_appending_to_a_file_renamed_while_the_collector_had_it_closed_is_still_delivered() {
    let s = Scenario::new();
    s.append("app.log", &numbered("old", 1, 3));
    // A drained rotated file is let go two quiet intervals after its last
    // growth, by design; each late line below is written right after the
    // previous one came out, well inside that window at 250 ms.
    let d = s.spawn(&["-i", "250ms", "-o", "out.txt", "app.log"]);
    let out = s.path("out.txt");
    wait_file_eq(&out, &numbered("old", 1, 3));
    // Idle, it is let go: the rename below is found by looking for the file
    // among its siblings, not through a descriptor.
    wait_closed(&s, &d, "app.log");

    let mut old = writer(&s, "app.log");
    d.freeze();
    s.rename("app.log", "app.log.1");
    old.write_all(&numbered("old", 4, 5)).unwrap();
    s.append("app.log", b"new-1\n");
    d.thaw();
    let mut want = [numbered("old", 1, 5), b"new-1\n".to_vec()].concat();
    wait_file_eq(&out, &want);

    // The writer has not reopened its log yet and keeps appending.
    for i in 6..=9 {
        let line = format!("old-{i}\n");
        old.write_all(line.as_bytes()).unwrap();
        want.extend_from_slice(line.as_bytes());
        wait_file_eq(&out, &want);
    }
    old.write_all(b"old last words").unwrap();
    want.extend_from_slice(b"old last words\n");
    wait_file_eq(&out, &want);
    drop(old);

    s.append("app.log", b"new-2\n");
    want.extend_from_slice(b"new-2\n");
    wait_file_eq(&out, &want);
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn delete_and_recreate_thirty_times_in_a_tight_loop_delivers_every_generation_once() {
    let s = Scenario::new();
    s.append("app.log", b"gen-00\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    let out = s.path("out.txt");
    let mut want = b"gen-00\n".to_vec();
    wait_file_eq(&out, &want);
    for i in 1..=30 {
        // The inode is often recycled, and every generation has the size of
        // the one before.
        let line = format!("gen-{i:02}\n");
        s.remove("app.log");
        s.append("app.log", line.as_bytes());
        want.extend_from_slice(line.as_bytes());
        wait_file_eq(&out, &want);
    }
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

/// Deletes app.log and creates it again with `content` while the collector is
/// frozen, so it sees one change; returns whether the new file got the old
/// one's inode. The collector lets the idle file go first: an inode it still
/// held open would not be free to be handed out again.
fn recreate_frozen(s: &Scenario, d: &Daemon, content: &[u8]) -> bool {
    wait_closed(s, d, "app.log");
    let before = inode(s, "app.log");
    d.freeze();
    s.remove("app.log");
    s.append("app.log", content);
    let recycled = inode(s, "app.log") == before;
    d.thaw();
    recycled
}

/// What a test on a recycled inode says when the filesystem gave the new
/// file another one.
const NOT_RECYCLED: &str = "the recreated file got another inode: no recycled inode to check";

#[test]
fn recreated_file_on_a_recycled_inode_is_read_from_zero_whether_longer_or_shorter() {
    let s = Scenario::new();
    s.append("app.log", b"first generation\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    let out = s.path("out.txt");
    let mut want = b"first generation\n".to_vec();
    wait_file_eq(&out, &want);

    // Longer: looks like growth, only the head tells it is another file.
    let longer = b"second generation, longer\nand two lines\n";
    if !recreate_frozen(&s, &d, longer) {
        skip(NOT_RECYCLED);
        return;
    }
    want.extend_from_slice(longer);
    wait_file_eq(&out, &want);

    // Shorter than what was read: also a new file from 0.
    if !recreate_frozen(&s, &d, b"third\n") {
        skip(NOT_RECYCLED);
        return;
    }
    want.extend_from_slice(b"third\n");
    wait_file_eq(&out, &want);

    s.append("app.log", b"third-2\n");
    want.extend_from_slice(b"third-2\n");
    wait_file_eq(&out, &want);
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn recreated_file_on_a_recycled_inode_with_the_same_size_is_read_from_zero() {
    let s = Scenario::new();
    s.append("app.log", b"gen-1\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    let out = s.path("out.txt");
    wait_file_eq(&out, b"gen-1\n");

    // Same inode (on ext4), same size: only something beyond (device,
    // inode, size) tells the files apart. Nothing is appended afterwards,
    // since growth has the head checked.
    if !recreate_frozen(&s, &d, b"gen-2\n") {
        skip(NOT_RECYCLED);
        return;
    }
    wait_file_eq(&out, b"gen-1\ngen-2\n");
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), b"gen-1\ngen-2\n", "out.txt");
}

#[test]
fn symlink_pointed_at_another_file_delivers_the_rest_of_the_old_target_then_the_new_one() {
    let s = Scenario::new();
    s.append("a.log", &numbered("a", 1, 2));
    symlink("a.log", s.path("app.log")).unwrap();
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    let out = s.path("out.txt");
    wait_file_eq(&out, &numbered("a", 1, 2));
    // Idle, a.log is let go; it is not a sibling of app.log's name.
    wait_closed(&s, &d, "a.log");

    // The old target gets its last lines, then the link is swapped
    // atomically, all between two looks.
    d.freeze();
    s.append("a.log", &numbered("a", 3, 4));
    s.append("b.log", &numbered("b", 1, 2));
    symlink("b.log", s.path("app.log.tmp")).unwrap();
    s.rename("app.log.tmp", "app.log");
    d.thaw();
    let mut want = [numbered("a", 1, 4), numbered("b", 1, 2)].concat();
    wait_file(&out, "b-2", |b| b.ends_with(b"b-2\n"));

    s.append("b.log", b"b-3\n");
    want.extend_from_slice(b"b-3\n");
    wait_file(&out, "b-3", |b| b.ends_with(b"b-3\n"));
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn symlink_pointed_at_another_file_after_the_old_one_was_read_follows_the_new_target() {
    let s = Scenario::new();
    s.append("a.log", &numbered("a", 1, 2));
    symlink("a.log", s.path("app.log")).unwrap();
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    let out = s.path("out.txt");
    wait_file_eq(&out, &numbered("a", 1, 2));

    s.append("b.log", &numbered("b", 1, 2));
    symlink("b.log", s.path("app.log.tmp")).unwrap();
    s.rename("app.log.tmp", "app.log");
    let mut want = [numbered("a", 1, 2), numbered("b", 1, 2)].concat();
    wait_file_eq(&out, &want);
    s.append("b.log", b"b-3\n");
    want.extend_from_slice(b"b-3\n");
    wait_file_eq(&out, &want);

    // Back to the first target: it is known and resumes where it was.
    s.append("a.log", b"a-3\n");
    symlink("a.log", s.path("app.log.tmp")).unwrap();
    s.rename("app.log.tmp", "app.log");
    want.extend_from_slice(b"a-3\n");
    wait_file_eq(&out, &want);
    d.stop_ok();
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

/// Bytes no text line holds: NUL, bytes above 0x7f, a marker, and newlines so
/// that a reader splitting them into lines would deliver something.
fn compressed_bytes(tag: &str) -> Vec<u8> {
    let mut b = vec![0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, b'\n'];
    b.extend_from_slice(format!("COMPRESSED {tag}\n").as_bytes());
    b.extend_from_slice(&[0x00, 0x80, 0xc3, b'\n', 0xfd, 0x37, 0x7a, 0x58, 0x5a, b'\n']);
    b
}

fn assert_no_compressed_bytes(out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    assert!(
        !out.iter().any(|&b| b == 0 || b >= 0x80) && !text.contains("COMPRESSED"),
        "bytes of a compressed file reached the output:\n{text}"
    );
}

#[test]
fn numbered_names_from_zero_are_followed_and_compressed_siblings_never_read() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen3", 1, 2));
    s.append("app.log.0", &numbered("gen2", 1, 2));
    s.append("app.log.1", &numbered("gen1", 1, 2));
    s.write("app.log.2.gz", &compressed_bytes("gz"));
    s.write("app.log.3.xz", &compressed_bytes("xz"));
    s.write("app.log.4.zst", &compressed_bytes("zst"));
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log*"]);
    let out = s.path("out.txt");
    wait_file(&out, "6 lines", |b| line_count(b) >= 6);

    // logrotate with compress and a start of 0: the oldest plain file is
    // compressed (and removed), the others shift, a new app.log appears.
    // The writer adds a last line to the file it still holds.
    let mut gen3 = writer(&s, "app.log");
    fs::remove_file(s.path("app.log.4.zst")).unwrap();
    s.rename("app.log.3.xz", "app.log.4.xz");
    s.rename("app.log.2.gz", "app.log.3.gz");
    s.write("app.log.2.zst", &compressed_bytes("gen1 zst"));
    s.remove("app.log.1");
    s.rename("app.log.0", "app.log.1");
    s.rename("app.log", "app.log.0");
    gen3.write_all(b"gen3-3\n").unwrap();
    // The new file may get the removed file's inode back; its size differs
    // (a same-size recycled inode has its own test above).
    s.append("app.log", &numbered("gen4 of the new file", 1, 2));
    s.append("app.log.0", b"gen3-4\n");

    let got = wait_file(&out, "10 lines", |b| line_count(b) >= 10);
    // Lines of compressed files would come in the same cycles as these.
    d.wait_cycles(2);
    d.stop_ok();
    let out = s.read("out.txt");
    assert_eq!(out, got, "nothing came after the 10 lines");
    assert_no_compressed_bytes(&out);
    for (prefix, n) in [
        ("gen1", 2),
        ("gen2", 2),
        ("gen3", 4),
        ("gen4 of the new file", 2),
    ] {
        assert_same_bytes(
            &lines_starting_with(&out, prefix),
            &numbered(prefix, 1, n),
            prefix,
        );
    }
    assert_eq!(line_count(&out), 10, "{}", String::from_utf8_lossy(&out));
}

#[test]
fn deleted_file_held_open_for_its_unread_bytes_is_drained_then_closed() {
    let s = Scenario::new();
    // Several MiB: the collector's first 1 MiB write blocks on the FIFO while
    // it still has bytes of app.log to read, so it holds app.log open.
    let all = numbered("a line of the file that gets deleted", 1, 100_000);
    s.append("app.log", &all);
    s.mkfifo("out.fifo");
    let mut reader = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.path("out.fifo"))
        .expect("open FIFO for reading");
    let d = s.spawn(&["-i", "20ms", "-o", "out.fifo", "app.log"]);

    let has_proc = fd_targets(d.pid()).is_some();
    if has_proc {
        let held = wait_until("app.log open", || {
            fd_targets(d.pid())?
                .iter()
                .any(|f| f.ends_with("/app.log"))
                .then_some(())
        });
        assert!(held.is_some(), "app.log was never held open");
    } else {
        // The delivery is still checked below.
        skip("no /proc: the descriptors are not checked");
    }
    s.remove("app.log");
    if has_proc {
        // Blocked on the full FIFO, it cannot have finished the file.
        let fds = fd_targets(d.pid()).unwrap_or_default();
        assert!(
            fds.iter().any(|f| f.ends_with("/app.log (deleted)")),
            "the deleted file is not held: {fds:?}"
        );
    }

    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let complete = wait_until("all bytes from the FIFO", || {
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read FIFO: {e}"),
            }
        }
        (got.len() >= all.len()).then_some(())
    });
    assert!(
        complete.is_some(),
        "{} of {} bytes came\nstderr:\n{}",
        got.len(),
        all.len(),
        d.stderr()
    );
    assert_same_bytes(&got, &all, "FIFO");

    if has_proc {
        // Drained and quiet: let go within a few intervals, so its disk
        // space is freed.
        let freed = wait_until("no deleted file open", || {
            let fds = fd_targets(d.pid())?;
            (!fds.iter().any(|f| f.ends_with("(deleted)"))).then_some(())
        });
        assert!(
            freed.is_some(),
            "still open: {:?}\nstderr:\n{}",
            fd_targets(d.pid()),
            d.stderr()
        );
    }
    d.stop_ok();
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{} more bytes after the end", rest.len());
}
