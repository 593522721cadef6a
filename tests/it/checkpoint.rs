//! The checkpoint store across restarts and crashes: nothing is lost, nothing
//! repeated beyond what the contract allows, a damaged file stops start-up
//! with a clear message, and the state dir is locked.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use crate::util::*;

/// A backlog big enough that a kill soon after the first output lands in the
/// middle of delivering it.
fn backlog() -> Vec<u8> {
    numbered(
        "a line of the backlog, padded to a realistic length",
        1,
        100_000,
    )
}

/// `text` with the offset field of every `file` line replaced by `bad`.
fn with_bad_offset(text: &str, bad: &str) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("file ") {
                let mut f: Vec<&str> = l.split(' ').collect();
                f[3] = bad;
                f.join(" ")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

/// The number (1-based) of the first line of `text` starting with `prefix`.
fn line_number(text: &str, prefix: &str) -> usize {
    1 + text
        .lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

#[test]
fn restart_after_sigterm_delivers_nothing_twice() {
    let s = Scenario::new();
    s.append("app.log", b"one\ntwo\npart");
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(b"one\ntwo\n");
    let first = d.stop();
    assert_eq!(first.code(), 0, "{}", first.stderr);

    // The unfinished line waits across the restart and comes out whole.
    s.append("app.log", b"ial\nthree\n");
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(b"partial\nthree\n");
    s.append("app.log", b"four\n");
    d.wait_stdout_eq(b"partial\nthree\nfour\n");
    let second = d.stop();
    assert_eq!(second.code(), 0, "{}", second.stderr);
    assert_eq!(
        [first.stdout, second.stdout].concat(),
        b"one\ntwo\npartial\nthree\nfour\n"
    );
}

#[test]
fn kill9_then_restart_with_stdout_loses_nothing_and_repeats_only_the_unsaved_tail() {
    let s = Scenario::new();
    let mut all = backlog();
    s.append("app.log", &all);
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout("some output", |out| !out.is_empty());
    let first = d.kill9();

    // The kill released the lock: a new collector starts on the same state.
    let more = numbered("after the crash", 1, 3);
    s.append("app.log", &more);
    all.extend_from_slice(&more);
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout("the last line", |out| out.ends_with(&more));
    let second = d.stop();
    assert_eq!(second.code(), 0, "{}", second.stderr);
    assert_delivered_at_least_once(&first.stdout, &second.stdout, &all);
}

/// Kills the collector writing app.log to out.txt, appends more lines,
/// starts it again and checks out.txt holds every line exactly once.
fn restart_after_kill9(s: &Scenario, d: Daemon, all: &mut Vec<u8>) {
    let out = s.path("out.txt");
    let first = d.kill9();
    assert!(!first.stderr.contains("panicked"), "{}", first.stderr);

    let more = numbered("after the crash", 1, 3);
    s.append("app.log", &more);
    all.extend_from_slice(&more);
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    wait_file_eq(&out, all);
    let second = d.stop();
    assert_eq!(second.code(), 0, "{}", second.stderr);
    assert_same_bytes(&s.read("out.txt"), all, "out.txt after the stop");
}

#[test]
fn kill9_then_restart_with_file_output_delivers_exactly_once() {
    let s = Scenario::new();
    s.append("app.log", b"before\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let mut all = s.read("app.log");
    let backlog = backlog();
    s.append("app.log", &backlog);
    all.extend_from_slice(&backlog);

    let out = s.path("out.txt");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    wait_file(&out, "some of the backlog", |b| b.len() > b"before\n".len());
    restart_after_kill9(&s, d, &mut all);
}

#[test]
fn kill9_in_the_first_cycle_with_file_output_delivers_exactly_once() {
    let s = Scenario::new();
    let mut all = backlog();
    s.append("app.log", &all);
    let out = s.path("out.txt");
    // No checkpoint exists yet when the kill lands in the first cycle.
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "app.log"]);
    wait_file(&out, "some output", |b| !b.is_empty());
    restart_after_kill9(&s, d, &mut all);
}

#[test]
fn file_output_bytes_past_the_checkpoint_that_no_run_wrote_are_kept() {
    let s = Scenario::new();
    s.append("app.log", &numbered("line", 1, 3));
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);

    // Only a tail this collector wrote and never confirmed is cut (the
    // kill -9 tests): what another writer added is not its to cut.
    s.append("app.log", &numbered("line", 4, 6));
    s.append("out.txt", b"somebody else's line\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let mut want = numbered("line", 1, 3);
    want.extend_from_slice(b"somebody else's line\n");
    want.extend_from_slice(&numbered("line", 4, 6));
    assert_same_bytes(&s.read("out.txt"), &want, "out.txt");
}

#[test]
fn file_output_replaced_by_another_file_is_appended_to_not_cut() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);

    // The output was rotated: the new file is not the checkpointed one, so
    // its length (longer than the checkpointed one) means nothing.
    s.rename("out.txt", "out.txt.1");
    s.append("out.txt", b"somebody else's earlier content\n");
    s.append("app.log", b"two\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(s.read("out.txt"), b"somebody else's earlier content\ntwo\n");
    assert_eq!(s.read("out.txt.1"), b"one\n");
}

#[test]
fn corrupt_checkpoint_stops_start_up_naming_the_file_and_line() {
    let s = Scenario::new();
    s.append("app.log", &numbered("line", 1, 2));
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let cp = s.checkpoint_path();
    let good = fs::read_to_string(&cp).expect("checkpoint written");
    let file_line = line_number(&good, "file ");
    let end_line = line_number(&good, "end ");
    let without_end: String = good
        .lines()
        .filter(|l| !l.starts_with("end "))
        .map(|l| format!("{l}\n"))
        .collect();
    // As if the disk filled up in the middle of the file line.
    let cut_mid_line = &good[..good.find("\nfile ").unwrap() + 13];

    // (what, content, the line the message must name, or None for no line)
    let cases: Vec<(&str, Vec<u8>, Option<usize>)> = vec![
        ("garbage", b"this is not a checkpoint\n".to_vec(), Some(1)),
        ("binary garbage", b"\xff\xfe\x00\x01".to_vec(), Some(1)),
        ("empty", Vec::new(), None),
        ("no end line", without_end.into_bytes(), Some(end_line)),
        ("cut mid-line", cut_mid_line.into(), Some(file_line)),
        (
            "bad number",
            with_bad_offset(&good, "12x").into(),
            Some(file_line),
        ),
        (
            "negative number",
            with_bad_offset(&good, "-1").into(),
            Some(file_line),
        ),
    ];
    let shown = cp.display().to_string();
    for (what, text, line) in cases {
        fs::write(&cp, &text).unwrap();
        let r = s.once(&["app.log"]);
        let ctx = format!(
            "{what}: {:?}\nstderr:\n{}",
            String::from_utf8_lossy(&text),
            r.stderr
        );
        assert_eq!(r.code(), 1, "{ctx}");
        assert!(!r.stderr.contains("panicked"), "{ctx}");
        assert!(r.stdout.is_empty(), "nothing is read: {ctx}");
        match line {
            Some(n) => assert!(r.stderr.contains(&format!("{shown}:{n}")), "{ctx}"),
            None => assert!(r.stderr.contains(&shown), "{ctx}"),
        }
        assert!(r.stderr.contains("move"), "a hint says what to do: {ctx}");
        assert_eq!(fs::read(&cp).unwrap(), text, "left as it was: {ctx}");
    }

    // Moved away as the hint says: start over.
    fs::remove_file(&cp).unwrap();
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, numbered("line", 1, 2));
}

#[test]
fn second_collector_on_the_same_state_dir_is_refused_while_the_first_runs() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(b"one\n");

    s.append("other.log", b"other\n");
    let r = s.once(&["other.log"]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("already using this state dir"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);

    // The first one is undisturbed.
    s.append("app.log", b"two\n");
    d.wait_stdout_eq(b"one\ntwo\n");
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);

    // Released on exit: the refused run now goes ahead.
    let r = s.once(&["other.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"other\n");
}

/// A log file name with a space and a byte that is not UTF-8.
const ODD_NAME: &[u8] = b"my app\xff.log";

fn append_odd(s: &Scenario, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.dir.path().join(OsStr::from_bytes(ODD_NAME)))
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn checkpoint_is_readable_text_with_the_path_escaped_and_resumes() {
    let s = Scenario::new();
    append_odd(&s, b"one\ntwo\n");
    // Through a pattern: the command line itself takes UTF-8 only (see below).
    let r = s.once(&["*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\ntwo\n");

    let text = String::from_utf8(fs::read(s.checkpoint_path()).unwrap())
        .expect("the checkpoint is UTF-8 text");
    assert!(
        text.lines().any(|l| l == "log-collector-checkpoints 1"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("file "))
        .unwrap_or_else(|| panic!("no file line:\n{text}"));
    assert!(line.ends_with("my\\x20app\\xff.log"), "{line}");
    assert!(
        text.bytes()
            .all(|b| b == b'\n' || (b' '..=b'~').contains(&b)),
        "only printable ASCII:\n{text}"
    );

    append_odd(&s, b"three\n");
    let r = s.once(&["*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"three\n");
}

#[test]
fn non_utf8_path_given_literally_is_followed_and_resumed() {
    let s = Scenario::new();
    append_odd(&s, b"one\n");
    let once = || {
        let mut cmd = s.command(&["--once"]);
        cmd.arg(OsStr::from_bytes(ODD_NAME));
        Daemon::start(cmd).wait_exit()
    };
    let r = once();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\n");
    append_odd(&s, b"two\n");
    let r = once();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"two\n");
}

#[test]
fn leftover_temp_checkpoint_does_not_disturb_start_up() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    // Before any checkpoint exists...
    fs::create_dir_all(&s.state).unwrap();
    fs::write(
        s.state.join("checkpoints.tmp"),
        b"log-collector-checkpoints 1\nfi",
    )
    .unwrap();
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\n");

    // ...and beside one: the complete file is the one that counts.
    fs::write(s.state.join("checkpoints.tmp"), b"garbage").unwrap();
    s.append("app.log", b"two\n");
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"two\n");
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"");
}

#[test]
fn checkpoint_is_not_rewritten_while_nothing_changes() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "app.log"]);
    d.wait_stdout_eq(b"one\n");
    // The cycle that wrote "one" saves after writing it.
    d.wait_cycles(1);

    // A save replaces the file by rename, which leaves this descriptor on
    // an unlinked inode; its link count tells whether that happened (an
    // inode number could be reused by a later save).
    let held = File::open(s.checkpoint_path()).expect("checkpoint saved");
    d.wait_cycles(5);
    assert_eq!(
        held.metadata().unwrap().nlink(),
        1,
        "the checkpoint was rewritten while nothing changed"
    );

    // The probe does see a save.
    s.append("app.log", b"two\n");
    d.wait_stdout_eq(b"one\ntwo\n");
    d.wait_cycles(1);
    assert_eq!(held.metadata().unwrap().nlink(), 0, "a change is saved");
    d.stop_ok();
}

#[test]
fn state_dir_and_checkpoint_are_private() {
    let s = Scenario::new();
    s.append("app.log", b"one\n");
    let r = s.once(&["app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(mode(&s.state), 0o700);
    assert_eq!(mode(&s.checkpoint_path()), 0o600);
}
