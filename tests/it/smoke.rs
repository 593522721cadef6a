//! The quickest end-to-end checks: one `--once` run, one daemon run.

use crate::util::*;

#[test]
fn once_delivers_complete_lines_and_then_nothing() {
    let s = Scenario::new();
    s.append("a.log", b"one\ntwo\nunfinished");
    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\ntwo\n");
    let r = s.once(&["a.log"]);
    assert_eq!(r.stdout, b"", "a second run has nothing new");
    s.append("a.log", b" line\nthree\n");
    assert_eq!(s.once(&["a.log"]).stdout, b"unfinished line\nthree\n");
}

#[test]
fn daemon_follows_appends() {
    let s = Scenario::new();
    s.append("a.log", b"first\n");
    let d = s.spawn(&["-i", "20ms", "a.log"]);
    d.wait_stdout_eq(b"first\n");
    s.append("a.log", b"second\n");
    d.wait_stdout_eq(b"first\nsecond\n");
    d.stop_ok();
}
