//! What an operator got wrong is said so, not silently ignored: excludes
//! that match nothing, a PATH dropped on reload, config spelling.

use std::fs;

use crate::util::*;

fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("WARN")).collect()
}

/// `--exclude '*.1'` with `logs/**`: an exclude is matched against whole
/// paths, so a bare name never matches a path in a directory.
#[test]
fn an_exclude_that_can_match_nothing_is_warned_about_with_the_spelling_it_needs() {
    let s = Scenario::new();
    fs::create_dir_all(s.path("logs/old")).unwrap();
    s.write("logs/a.log", b"a\n");
    s.write("logs/old/a.log.1", b"old\n");
    let r = s.once(&["-o", "out.txt", "--exclude", "*.1", "logs/**"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let w = warnings(&r.stderr);
    assert!(
        w.iter()
            .any(|l| l.contains("--exclude *.1 matches no path") && l.contains("'**/*.1'")),
        "{}",
        r.stderr
    );
    // What it names is read: the exclude did nothing.
    assert_eq!(line_count(&s.read("out.txt")), 2);
    // Spelled as the warning says, it takes the file out, and says nothing.
    let s = Scenario::new();
    fs::create_dir_all(s.path("logs/old")).unwrap();
    s.write("logs/a.log", b"a\n");
    s.write("logs/old/a.log.1", b"old\n");
    let r = s.once(&["-o", "out.txt", "--exclude", "**/*.1", "logs/**"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(warnings(&r.stderr).is_empty(), "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"a\n", "out.txt");
}

/// An absolute exclude with a relative PATH never matches: the warning
/// gives the exclude relative to the current directory.
#[test]
fn an_absolute_exclude_with_a_relative_path_is_warned_about() {
    let s = Scenario::new();
    fs::create_dir_all(s.path("logs")).unwrap();
    s.write("logs/a.log", b"a\n");
    s.write("logs/b.log", b"b\n");
    let absolute = s.path("logs/b.log");
    let absolute = absolute.to_str().unwrap();
    let r = s.once(&["-o", "out.txt", "--exclude", absolute, "logs/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        warnings(&r.stderr)
            .iter()
            .any(|l| l.contains("matches no path") && l.contains("'logs/b.log'")),
        "{}",
        r.stderr
    );
}

/// A pattern whose every match is excluded says so, instead of "matches no
/// file (yet)"; a literal PATH an exclude takes out is named too.
#[test]
fn a_pattern_whose_every_match_is_excluded_says_so() {
    let s = Scenario::new();
    fs::create_dir_all(s.path("logs")).unwrap();
    s.write("logs/a.log", b"a\n");
    let r = s.once(&["-o", "out.txt", "--exclude", "logs/*.log", "logs/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("logs/*.log matches only files the excludes take out"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("matches no file"), "{}", r.stderr);
    let r = s.once(&["-o", "out.txt", "--exclude", "**/a.log", "logs/a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("logs/a.log is excluded by --exclude **/a.log"),
        "{}",
        r.stderr
    );
}

/// The hint for an empty exclude does not suggest a pattern for compressed
/// names, which are never read anyway.
#[test]
fn the_empty_exclude_hint_suggests_a_pattern_that_matters() {
    let s = Scenario::new();
    let r = s.once(&["--exclude", "", "a.log"]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("'**/*.1'") && !r.stderr.contains(".gz"),
        "{}",
        r.stderr
    );
}

/// Issue: a PATH removed from the config on SIGHUP was logged as "renamed
/// away or deleted"; it is still there, only no longer watched.
#[test]
fn a_path_removed_on_reload_is_said_to_be_no_longer_watched() {
    let s = Scenario::new();
    s.write("a.log", b"a-1\n");
    s.write("b.log", b"b-1\n");
    s.write("lc.conf", b"path = a.log\npath = b.log\n");
    let d = s.spawn(&["-i", "20ms", "-c", "lc.conf"]);
    d.wait_stdout("both files", |out| line_count(out) == 2);
    d.wait_cycles(3);
    s.write("lc.conf", b"path = a.log\n");
    d.signal(libc::SIGHUP);
    d.wait_stderr("b.log is no longer named by a PATH, or is excluded now");
    d.wait_cycles(2);
    let r = d.stop_ok();
    assert!(
        !r.stderr.contains("b.log was renamed away or deleted"),
        "{}",
        r.stderr
    );
}

/// Config messages: a byte order mark is not part of the first key, and a
/// comment after a value is told apart.
#[test]
fn a_config_with_a_byte_order_mark_or_a_comment_after_a_value_is_understood() {
    let s = Scenario::new();
    s.write("a.log", b"a\n");
    s.write("lc.conf", b"\xEF\xBB\xBFpath = a.log\noutput = out.txt\n");
    let r = s.once(&["-c", "lc.conf"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"a\n", "out.txt");
    s.write(
        "lc.conf",
        b"path = a.log\ninterval = 1s # poll each second\n",
    );
    let r = s.once(&["-c", "lc.conf"]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("lc.conf:2") && first.contains("a comment goes on a line of its own"),
        "{first}"
    );
}
