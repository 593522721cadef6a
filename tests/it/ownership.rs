//! Who owns what: a file output belongs to one collector, so a second one on
//! it is refused and a restart never cuts lines it did not write; the stats
//! file, the output and the state dir never overwrite each other or a
//! followed file.

use crate::util::*;

/// Two collectors, each with its own state dir, one output file.
fn second(s: &Scenario, args: &[&str]) -> Run {
    let mut cmd = s.bare_command(&[]);
    cmd.arg("--state-dir").arg(s.path("state-b")).args(args);
    Daemon::start(cmd).wait_exit()
}

#[test]
fn a_restart_keeps_the_lines_another_collector_appended_to_a_shared_output() {
    let s = Scenario::new();
    s.append("a.log", b"a1\na2\n");
    s.append("b.log", b"b1\n");
    let r = s.once(&["-o", "out.txt", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let r = second(&s, &["--once", "-o", "out.txt", "b.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    s.append("a.log", b"a3\n");
    let r = s.once(&["-v", "-o", "out.txt", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"a1\na2\nb1\na3\n", "shared output");
    assert!(!r.stderr.contains("written again"), "{}", r.stderr);
    assert!(r.stderr.contains("another writer added"), "{}", r.stderr);
}

#[test]
fn bytes_a_restart_cannot_prove_are_its_own_are_kept_with_a_warning() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    let r = s.once(&["-o", "out.txt", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    // Without the record of what was written past the checkpoint, nothing
    // past it can be told apart.
    std::fs::remove_file(s.state.join("output-tail")).expect("remove the tail record");
    s.append("out.txt", b"foreign\n");
    let r = s.once(&["-o", "out.txt", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"a1\nforeign\n", "output");
    assert!(
        r.stderr.contains("cannot prove") && r.stderr.contains("exactly-once does not hold"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_second_collector_on_the_same_output_file_is_refused() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    s.append("b.log", b"b1\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    wait_file(&s.path("out.txt"), "a's line", |b| b == b"a1\n");
    let r = second(&s, &["--once", "-o", "out.txt", "b.log"]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("output file out.txt")
            && r.stderr.contains("another collector writes to"),
        "{}",
        r.stderr
    );
    let first = d.stop();
    assert_eq!(first.code(), 0, "{}", first.stderr);
    assert_same_bytes(&s.read("out.txt"), b"a1\n", "output");
}
