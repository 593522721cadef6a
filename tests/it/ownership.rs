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

/// The usage error of a run refused at start-up: exit 2, one line naming
/// both files, nothing written.
fn refused(r: &Run, first: &str, second: &str) {
    assert_eq!(r.code(), 2, "{}", r.stderr);
    let line = r.stderr.lines().next().unwrap_or_default();
    assert!(
        line.contains(first) && line.contains(second),
        "{line:?} should name {first:?} and {second:?}"
    );
}

#[test]
fn a_stats_file_that_is_a_followed_file_the_output_or_a_state_file_is_refused() {
    let s = Scenario::new();
    s.append("v.log", b"v1\n");
    let r = s.once(&["--stats-file", "v.log", "v.log"]);
    refused(&r, "--stats-file 'v.log'", "PATH 'v.log'");
    assert_eq!(s.read("v.log"), b"v1\n");

    // By identity: another name for the same file.
    std::os::unix::fs::symlink(s.path("v.log"), s.path("link.log")).expect("symlink");
    let r = s.once(&["--stats-file", "./link.log", "v.log"]);
    refused(&r, "'./link.log'", "'v.log'");
    assert_eq!(s.read("v.log"), b"v1\n");

    let r = s.once(&["--stats-file", "out.txt", "-o", "sub/../out.txt", "v.log"]);
    refused(&r, "--stats-file 'out.txt'", "--output 'sub/../out.txt'");
    assert!(!s.path("out.txt").exists());

    // A first run makes the state dir and its checkpoint.
    let r = s.once(&["-o", "out.txt", "v.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let checkpoint = s.read("state/checkpoints");
    let r = s.once(&["--stats-file", "state/checkpoints", "v.log"]);
    refused(&r, "--stats-file 'state/checkpoints'", "state dir");
    let r = s.once(&["-o", "state/checkpoints", "v.log"]);
    refused(&r, "--output 'state/checkpoints'", "state dir");
    assert_eq!(s.read("state/checkpoints"), checkpoint);
    assert_eq!(s.read("out.txt"), b"v1\n");
}

#[test]
fn a_pattern_never_follows_the_stats_file_or_the_state_dirs_files() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    let args = ["--stats-file", "m.prom", "-o", "out.txt", "*", "state/*"];
    let r = s.once(&args);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    // Now the stats file and the state dir's files exist when looked for.
    s.append("a.log", b"a2\n");
    let r = s.once(&args);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"a1\na2\n", "out.txt");
    assert!(
        r.stderr.contains("m.prom is the stats file; not followed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("checkpoints is a file of the state dir; not followed"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_reload_whose_stats_file_is_a_followed_file_keeps_the_old_settings() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    s.write("collector.conf", b"path = a.log\nstats-file = m.prom\n");
    let d = s.spawn(&["-c", "collector.conf", "-i", "20ms"]);
    d.wait_stdout_eq(b"a1\n");

    s.write("collector.conf", b"path = a.log\nstats-file = a.log\n");
    d.signal(libc::SIGHUP);
    d.wait_stderr("keeping the current settings");
    assert!(d.stderr().contains("is PATH"), "{}", d.stderr());
    s.append("a.log", b"a2\n");
    d.wait_stdout_eq(b"a1\na2\n");
    d.stop_ok();
    assert_eq!(s.read("a.log"), b"a1\na2\n");
    assert!(s.read("m.prom").starts_with(b"#"));
}

#[test]
fn sighup_with_the_output_file_still_in_place_keeps_writing_to_it() {
    // Reopening the same file found the collector's own lock taken and
    // logged that another collector writes to it.
    let s = Scenario::new();
    s.append("a.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    wait_file(&s.path("out.txt"), "the first line", |b| b == b"one\n");
    d.signal(libc::SIGHUP);
    d.wait_cycles(2);
    s.append("a.log", b"two\n");
    wait_file(&s.path("out.txt"), "the line after the reload", |b| {
        b == b"one\ntwo\n"
    });
    let r = d.stop_ok();
    assert!(!r.stderr.contains("another collector"), "{}", r.stderr);
    assert!(!r.stderr.contains("ERROR"), "{}", r.stderr);
}
