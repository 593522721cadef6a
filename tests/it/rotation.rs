//! Log files rotated, truncated, deleted or missing while the collector runs:
//! every line comes out exactly once, and an old file's lines before those of
//! the file that replaced it.

use std::fs::{File, OpenOptions};
use std::io::Write;

use crate::util::*;

/// A writer's descriptor, kept across renames as an application keeps it
/// until it reopens its log.
fn writer(s: &Scenario, name: &str) -> File {
    OpenOptions::new()
        .append(true)
        .open(s.path(name))
        .expect("open for append")
}

#[test]
fn rename_rotation_drains_the_old_file_first_including_lines_written_after_the_rename() {
    let s = Scenario::new();
    s.append("app.log", &numbered("old", 1, 3));
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(&numbered("old", 1, 3));
    let mut old = writer(&s, "app.log");

    // Frozen, the whole rotation lies between two looks, so what the old file
    // holds when the new one is seen does not depend on thread scheduling.
    d.freeze();
    s.rename("app.log", "app.log.1");
    old.write_all(&numbered("old", 4, 5)).unwrap();
    s.append("app.log", &numbered("new", 1, 2));
    d.thaw();

    let mut want = [numbered("old", 1, 5), numbered("new", 1, 2)].concat();
    d.wait_stdout_eq(&want);
    s.append("app.log", b"new-3\n");
    want.extend_from_slice(b"new-3\n");
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn rename_rotation_delivers_the_old_files_final_partial_line_before_the_new_file() {
    let s = Scenario::new();
    s.append("app.log", &numbered("old", 1, 3));
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(&numbered("old", 1, 3));
    let mut old = writer(&s, "app.log");

    d.freeze();
    s.rename("app.log", "app.log.1");
    old.write_all(b"old-4\nlast words").unwrap();
    s.append("app.log", &numbered("new", 1, 2));
    d.thaw();

    // "last words" is part of what the old file holds when the rotation is
    // seen, so it belongs before the new file's first line.
    let want = [
        numbered("old", 1, 4),
        b"last words\n".to_vec(),
        numbered("new", 1, 2),
    ]
    .concat();
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn rotated_file_growing_after_the_rename_was_noticed_is_still_read() {
    let s = Scenario::new();
    s.append("app.log", &numbered("old", 1, 3));
    // A drained rotated file is closed two quiet intervals after its last
    // growth, by design. The test writes to it once the collector has noticed
    // the rename, which must fall inside that window: a long interval makes
    // the window far wider than the test's own reaction time.
    let d = s.spawn(&["-i", "500ms", "app.log"]);
    d.wait_stdout_eq(&numbered("old", 1, 3));
    let mut old = writer(&s, "app.log");
    s.rename("app.log", "app.log.1");
    d.wait_stderr("was renamed away");
    old.write_all(b"old-4\nlast words").unwrap();
    let mut want = [numbered("old", 1, 4), b"last words\n".to_vec()].concat();
    d.wait_stdout_eq(&want);

    s.append("app.log", &numbered("new", 1, 2));
    want.extend_from_slice(&numbered("new", 1, 2));
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn two_rename_rotations_in_a_row_deliver_three_generations_in_order() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen1", 1, 3));
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(&numbered("gen1", 1, 3));

    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen2", 1, 3));
    let mut want = [numbered("gen1", 1, 3), numbered("gen2", 1, 3)].concat();
    // gen2 must have been seen before it is rotated too: a literal path
    // shows the collector only the current file.
    d.wait_stdout_eq(&want);

    let mut gen2 = writer(&s, "app.log");
    d.freeze();
    s.rename("app.log.1", "app.log.2");
    s.rename("app.log", "app.log.1");
    gen2.write_all(b"gen2-4\n").unwrap();
    s.append("app.log", &numbered("gen3", 1, 3));
    d.thaw();
    want.extend_from_slice(b"gen2-4\n");
    want.extend_from_slice(&numbered("gen3", 1, 3));
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn copytruncate_restarts_at_zero_even_when_new_content_is_shorter_than_the_old_offset() {
    let s = Scenario::new();
    s.append(
        "app.log",
        &numbered("a fairly long line before the copy", 1, 5),
    );
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    let mut want = numbered("a fairly long line before the copy", 1, 5);
    d.wait_stdout_eq(&want);

    s.copytruncate("app.log", "app.log.1");
    s.append("app.log", b"short\n");
    want.extend_from_slice(b"short\n");
    d.wait_stdout_eq(&want);
    d.wait_stderr("truncated");

    s.append("app.log", b"more\n");
    want.extend_from_slice(b"more\n");
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn truncate_and_regrow_past_the_old_offset_between_two_looks_is_read_from_zero() {
    let s = Scenario::new();
    s.append("app.log", &numbered("before", 1, 2));
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    let mut want = numbered("before", 1, 2);
    d.wait_stdout_eq(&want);

    // Only the changed head tells this apart from plain growth: the size
    // grew past the offset and the inode is the same.
    let after = numbered("after the truncation", 1, 4);
    d.freeze();
    s.truncate("app.log");
    s.append("app.log", &after);
    d.thaw();
    want.extend_from_slice(&after);
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn rewritten_with_the_same_head_past_the_old_offset_is_read_from_zero() {
    // A header longer than the fingerprint, written again the same: only the
    // bytes just before the old offset tell the new file from plain growth.
    let header = numbered("# the same header line, longer than a fingerprint", 1, 30);
    assert!(header.len() > 1024);
    let s = Scenario::new();
    let first = [header.clone(), numbered("first run", 1, 3)].concat();
    s.append("app.log", &first);
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    let mut want = first.clone();
    d.wait_stdout_eq(&want);
    // Grown once after that, so the next growth is told by the bytes behind.
    s.append("app.log", &numbered("first run, later", 1, 2));
    want.extend_from_slice(&numbered("first run, later", 1, 2));
    d.wait_stdout_eq(&want);

    let second = [header, numbered("second run, its lines differ", 1, 8)].concat();
    d.freeze();
    s.truncate("app.log");
    s.append("app.log", &second);
    d.thaw();
    want.extend_from_slice(&second);
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn delete_and_recreate_reads_the_new_file_from_the_start() {
    let s = Scenario::new();
    s.append("app.log", &numbered("first", 1, 2));
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    let mut want = numbered("first", 1, 2);
    d.wait_stdout_eq(&want);

    // Noticed, drained and closed before the new file exists; the new file
    // may even get the old inode number back.
    s.remove("app.log");
    d.wait_stderr("was renamed away or deleted");
    s.append("app.log", &numbered("second", 1, 2));
    want.extend_from_slice(&numbered("second", 1, 2));
    d.wait_stdout_eq(&want);

    // Deleted and recreated between two looks.
    d.freeze();
    s.remove("app.log");
    s.append("app.log", &numbered("third", 1, 2));
    d.thaw();
    want.extend_from_slice(&numbered("third", 1, 2));
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn file_missing_at_start_is_read_from_its_start_once_it_appears() {
    let s = Scenario::new();
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stderr("does not exist");
    s.append("app.log", &numbered("late", 1, 3));
    d.wait_stdout_eq(&numbered("late", 1, 3));
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn file_that_vanishes_and_returns_resumes_without_repeats() {
    let s = Scenario::new();
    s.append("app.log", &numbered("before", 1, 3));
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(&numbered("before", 1, 3));

    s.rename("app.log", "parked");
    d.wait_stderr("was renamed away or deleted");
    // Whether this is read while the file is away or once it is back
    // depends on timing; either way it comes exactly once.
    s.append("parked", b"while away\n");
    s.rename("parked", "app.log");
    s.append("app.log", b"back\n");
    let want = [numbered("before", 1, 3), b"while away\nback\n".to_vec()].concat();
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn pattern_matching_the_rotated_name_does_not_read_it_again() {
    let s = Scenario::new();
    s.append("app.log", &numbered("gen1", 1, 3));
    let d = s.spawn(&["-i", "20ms", "app.log*"]);
    let mut want = numbered("gen1", 1, 3);
    d.wait_stdout_eq(&want);

    s.rename("app.log", "app.log.1");
    s.append("app.log.1", b"gen1-4\n");
    s.append("app.log", &numbered("gen2", 1, 2));
    want.extend_from_slice(b"gen1-4\n");
    want.extend_from_slice(&numbered("gen2", 1, 2));
    d.wait_stdout_eq(&want);

    // The rotated file is still matched, so it is still followed.
    s.append("app.log.1", b"gen1-5\n");
    want.extend_from_slice(b"gen1-5\n");
    d.wait_stdout_eq(&want);

    // Each file moves to a name the pattern also matches.
    s.rename("app.log.1", "app.log.2");
    s.rename("app.log", "app.log.1");
    s.append("app.log", &numbered("gen3", 1, 2));
    want.extend_from_slice(&numbered("gen3", 1, 2));
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn writer_rotating_under_load_loses_and_repeats_nothing() {
    let s = Scenario::new();
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    // Running before the first line: a generation rotated away before the
    // collector ever saw app.log would not be found.
    d.wait_stderr("following");
    // keep=10: no rotated file is deleted before it could be read.
    let mut gen = program(env!("CARGO_BIN_EXE_loggen"))
        .current_dir(s.dir.path())
        .args(["--seq", "--rate", "2000", "--rotate-every", "500"])
        .args(["--rotate-mode", "rename", "--keep", "10", "--lines", "3000"])
        .arg("app.log")
        .spawn()
        .expect("start loggen");
    wait_file(&s.path("out.txt"), "3000 lines", |b| line_count(b) >= 3000);
    assert!(wait_child(&mut gen).success(), "loggen failed");
    // Stopped, so anything repeated after the 3000th line is in the file too.
    d.stop_ok();

    let out = s.read("out.txt");
    let seqs: Vec<u64> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let text = String::from_utf8_lossy(l);
            text.strip_prefix("seq=")
                .and_then(|t| t.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("not a loggen --seq line: {text:?}"))
        })
        .collect();
    let want: Vec<u64> = (1..=3000).collect();
    if seqs != want {
        let first_bad = seqs.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "{} lines; first out of place at index {first_bad:?}: {:?}",
            seqs.len(),
            first_bad.map(|i| &seqs[i.saturating_sub(2)..(i + 3).min(seqs.len())])
        );
    }
    assert!(out.ends_with(b"\n"));
}
