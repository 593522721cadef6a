//! `--stats-file` as an operator meets it: what is already at the path is
//! never replaced unless it is a regular file, and the temporary file beside
//! it is created exclusively, never through a symlink, and never left behind.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;

use crate::util::*;

/// The first stderr line of a run refused with exit 2 before it delivered
/// anything; it must name `shown` and say what to do.
fn refused(r: &Run, shown: &str) -> String {
    assert_eq!(r.code(), 2, "not refused:\n{}", r.stderr);
    assert_eq!(r.stdout, b"", "nothing is delivered");
    let first = r.stderr.lines().next().unwrap_or_default().to_string();
    assert!(
        first.contains(&format!("--stats-file '{shown}'")),
        "{first:?} names the path"
    );
    assert!(first.contains("not a regular file"), "{first:?}");
    assert!(
        first.contains("give the path of a regular file"),
        "{first:?}"
    );
    first
}

/// Names in `dir` that look like a stats temp file, except `planted`.
fn temp_files(dir: &Path, planted: &str) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp") && n != planted)
        .collect()
}

#[test]
fn stats_file_refuses_a_path_that_is_not_a_regular_file() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");

    s.mkfifo("fifo.prom");
    let first = refused(
        &s.once(&["--stats-file", "fifo.prom", "a.log"]),
        "fifo.prom",
    );
    assert!(first.contains("is a FIFO"), "{first}");
    let kind = fs::symlink_metadata(s.path("fifo.prom"))
        .unwrap()
        .file_type();
    assert!(kind.is_fifo(), "the FIFO is still there");

    s.write("victim", b"keep\n");
    symlink("victim", s.path("link.prom")).unwrap();
    let first = refused(
        &s.once(&["--stats-file", "link.prom", "a.log"]),
        "link.prom",
    );
    assert!(first.contains("is a symlink"), "{first}");
    let kind = fs::symlink_metadata(s.path("link.prom"))
        .unwrap()
        .file_type();
    assert!(kind.is_symlink(), "the symlink is still there");
    assert_eq!(s.read("victim"), b"keep\n");

    fs::create_dir(s.path("dir.prom")).unwrap();
    let first = refused(&s.once(&["--stats-file", "dir.prom", "a.log"]), "dir.prom");
    assert!(first.contains("is a directory"), "{first}");

    // `/` used to leave `/.tmp` behind.
    let slash_tmp = Path::new("/.tmp");
    let had_slash_tmp = slash_tmp.exists();
    let r = s.once(&["--stats-file", "/", "a.log"]);
    let left_slash_tmp = !had_slash_tmp && slash_tmp.exists();
    if left_slash_tmp {
        let _ = fs::remove_file(slash_tmp);
    }
    refused(&r, "/");
    assert!(!left_slash_tmp, "/.tmp was left behind");
    assert_eq!(temp_files(s.dir.path(), ""), Vec::<String>::new());

    // A regular file is replaced, as always.
    s.write("m.prom", b"old\n");
    let r = s.once(&["--stats-file", "m.prom", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\n");
    let text = String::from_utf8(s.read("m.prom")).unwrap();
    assert!(
        text.contains("log_collector_lines_total{path=\"a.log\"} 1\n"),
        "{text}"
    );

    // A character device (made here: /dev/null itself must never be at stake).
    let null = s.path("null.prom");
    let c = CString::new(null.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mknod has no other preconditions.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) };
    if made != 0 {
        let e = std::io::Error::last_os_error();
        return skip(&format!("cannot make a character device (as root?): {e}"));
    }
    let first = refused(
        &s.once(&["--stats-file", "null.prom", "a.log"]),
        "null.prom",
    );
    assert!(first.contains("is a character device"), "{first}");
    let kind = fs::symlink_metadata(&null).unwrap().file_type();
    assert!(kind.is_char_device(), "the device is still there");
    assert_eq!(temp_files(s.dir.path(), ""), Vec::<String>::new());
}

#[test]
fn reload_keeps_the_settings_when_the_new_stats_file_is_not_a_regular_file() {
    let s = Scenario::new();
    s.write("a.log", b"a1\n");
    // Not followed yet: its line must not come out before a reload is accepted.
    s.write("b.log", b"b0\n");
    s.write("lc.conf", b"path = a.log\nstats-file = m.prom\n");
    let d = s.spawn(&["-c", "lc.conf", "-i", "20ms"]);
    d.wait_stdout_eq(b"a1\n");
    wait_file(&s.path("m.prom"), "the stats file", |b| !b.is_empty());

    s.mkfifo("new.prom");
    s.write(
        "lc.conf",
        b"path = a.log\npath = b.log\nstats-file = new.prom\n",
    );
    d.signal(libc::SIGHUP);
    d.wait_stderr("keeping the current settings");
    let stderr = d.stderr();
    assert!(
        stderr.contains("reload: --stats-file 'new.prom' is a FIFO, not a regular file"),
        "{stderr}"
    );
    s.append("a.log", b"a2\n");
    d.wait_stdout_eq(b"a1\na2\n");
    let kind = fs::symlink_metadata(s.path("new.prom"))
        .unwrap()
        .file_type();
    assert!(kind.is_fifo(), "the FIFO is still there");

    fs::remove_file(s.path("new.prom")).unwrap();
    d.signal(libc::SIGHUP);
    d.wait_stdout_eq(b"a1\na2\nb0\n");
    wait_file(&s.path("new.prom"), "the new stats file", |b| {
        String::from_utf8_lossy(b).contains("log_collector_lines_total{path=\"b.log\"} 1\n")
    });
    d.stop_ok();
}

#[test]
fn stats_temp_file_is_never_opened_through_a_symlink() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    // Another user who can write the directory plants the old temp name.
    s.write("victim", b"precious\n");
    symlink(s.path("victim"), s.path("m.prom.tmp")).unwrap();
    let r = s.once(&["--stats-file", "m.prom", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(
        String::from_utf8_lossy(&s.read("victim")),
        "precious\n",
        "the victim was written"
    );
    let meta = fs::symlink_metadata(s.path("m.prom")).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the stats file is a regular file"
    );
    let text = String::from_utf8(s.read("m.prom")).unwrap();
    assert!(
        text.contains("log_collector_lines_total{path=\"a.log\"} 1\n"),
        "{text}"
    );
    let planted = fs::symlink_metadata(s.path("m.prom.tmp")).unwrap();
    assert!(
        planted.file_type().is_symlink(),
        "the planted link is left alone"
    );
    assert_eq!(temp_files(s.dir.path(), "m.prom.tmp"), Vec::<String>::new());

    // Written again and again, as a daemon: still no temp file left.
    s.remove("m.prom");
    let d = s.spawn(&["-i", "20ms", "--stats-file", "m.prom", "a.log"]);
    s.append("a.log", b"two\n");
    // Counted since this process started: "two" only.
    wait_file(&s.path("m.prom"), "two counted", |b| {
        String::from_utf8_lossy(b).contains("log_collector_lines_total{path=\"a.log\"} 1\n")
    });
    d.stop_ok();
    assert_eq!(
        String::from_utf8_lossy(&s.read("victim")),
        "precious\n",
        "the victim was written"
    );
    assert_eq!(temp_files(s.dir.path(), "m.prom.tmp"), Vec::<String>::new());
}

#[test]
fn a_failed_stats_write_leaves_no_temp_file() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "--stats-file", "m.prom", "a.log"]);
    wait_file(&s.path("m.prom"), "the stats file", |b| !b.is_empty());
    // A file cannot be renamed over a directory.
    fs::remove_file(s.path("m.prom")).unwrap();
    fs::create_dir(s.path("m.prom")).unwrap();
    fs::write(s.path("m.prom/keep"), b"x").unwrap();
    d.wait_stderr("cannot write stats file m.prom");
    d.stop_ok();
    assert_eq!(temp_files(s.dir.path(), ""), Vec::<String>::new());
    assert_eq!(fs::read(s.path("m.prom/keep")).unwrap(), b"x");
}
