//! What the collector tells its operator, and what it trusts: a config file
//! that names a command must be safe from other users; file names cannot
//! forge log lines; start-up logs a summary, not a line per file.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::util::*;

/// Every stderr line is one whole message: a timestamped log line or the
/// final error, and carries no control byte (the newline ends it).
fn assert_one_line_per_message(stderr: &str) {
    for line in stderr.lines() {
        let b = line.as_bytes();
        let stamped = b.len() > 24
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[10] == b'T'
            && b[23] == b'Z';
        assert!(
            stamped || line.starts_with("log-collector: "),
            "a line that is not a message of its own: {line:?}\nstderr:\n{stderr}"
        );
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{fffd}'),
            "a raw control or non-UTF-8 byte in {line:?}"
        );
    }
}

#[test]
fn control_bytes_in_file_names_are_escaped_in_logs() {
    let s = Scenario::new();
    // A name that would forge a log line of its own and colour the terminal.
    let forged = b"x\n2026-01-01T00:00:00.000Z ERROR forged \x1b[31mred\t\xff.log";
    let path = s.dir.path().join(OsStr::from_bytes(forged));
    fs::write(&path, b"one\n").unwrap();
    let missing = "gone\n\x1b]0;title\x07.log";
    let r = s.once(&["-v", "*.log", missing]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\n");
    assert!(
        r.stderr
            .contains("x\\n2026-01-01T00:00:00.000Z ERROR forged \\x1b[31mred\\t\\xff.log"),
        "the name is not shown escaped:\n{}",
        r.stderr
    );
    assert!(r
        .stderr
        .contains("gone\\n\\x1b]0;title\\x07.log does not exist"));
    assert!(!r.stderr.contains("\nforged") && !r.stderr.contains("\n2026-01-01T00"));
    assert_one_line_per_message(&r.stderr);
}

/// The first stderr line of a run refused with exit 2.
fn refused(r: &Run) -> &str {
    assert_eq!(r.code(), 2, "not refused:\n{}", r.stderr);
    r.stderr.lines().next().unwrap_or_default()
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

const RUNS_A_COMMAND: &[u8] = b"path = a.log\noutput = |cat >> out.txt\n";

#[test]
fn config_naming_a_command_is_refused_when_others_can_write_it() {
    let s = Scenario::new();
    s.append("a.log", b"one\n");
    s.write("lc.conf", RUNS_A_COMMAND);
    let conf = s.path("lc.conf");
    chmod(&conf, 0o644);
    let r = s.once(&["-c", "lc.conf"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(s.read("out.txt"), b"one\n");

    for mode in [0o666, 0o646, 0o664, 0o620] {
        chmod(&conf, mode);
        let r = s.once(&["-c", "lc.conf"]);
        let first = refused(&r);
        assert!(first.contains("lc.conf:2: "), "names file:line: {first}");
        let mode = format!("writable by group or others (mode {mode:04o})");
        assert!(first.contains(&mode), "{first}");
        assert!(first.contains("chmod go-w "), "says what to do: {first}");
    }
    // Not as root the rule is about commands: the same file with a file
    // output runs. As root every config file is held to it (a file output
    // can copy a root-only file somewhere public, or write into one).
    s.append("b.log", b"two\n");
    s.write("lc.conf", b"path = b.log\noutput = lines.txt\n");
    let r = s.once(&["-c", "lc.conf"]);
    if is_root() {
        let first = refused(&r);
        assert!(
            first.contains("a config file read by a collector running as root"),
            "{first}"
        );
    } else {
        assert_eq!(r.code(), 0, "{}", r.stderr);
        assert_eq!(s.read("lines.txt"), b"two\n");
    }

    if !is_root() {
        return skip("chown to another user needs root");
    }
    s.write("lc.conf", RUNS_A_COMMAND);
    chmod(&conf, 0o644);
    std::os::unix::fs::chown(&conf, Some(65534), None).expect("chown");
    let first = refused(&s.once(&["-c", "lc.conf"])).to_string();
    assert!(first.contains("owned by uid 65534"), "{first}");
    assert!(first.contains("chown root "), "says what to do: {first}");
    assert_eq!(s.read("out.txt"), b"one\n", "the command never ran");
}

#[test]
fn config_naming_a_command_is_refused_in_a_directory_others_can_write() {
    let s = Scenario::new();
    s.append("a.log", b"one\n");
    fs::create_dir(s.path("pub")).unwrap();
    s.write(
        "pub/lc.conf",
        b"path = ../a.log\noutput = |cat >> out.txt\n",
    );
    chmod(&s.path("pub/lc.conf"), 0o644);
    chmod(&s.path("pub"), 0o777);
    let first = refused(&s.once(&["-c", "pub/lc.conf"])).to_string();
    let dir = s.path("pub").display().to_string();
    assert!(
        first.contains(&format!(
            "the directory {dir} above it is writable by group or others (mode 0777, not sticky)"
        )),
        "{first}"
    );
    // Reached through a symlink from a safe place: the real path counts.
    std::os::unix::fs::symlink("pub/lc.conf", s.path("link.conf")).unwrap();
    let first = refused(&s.once(&["-c", "link.conf"])).to_string();
    assert!(first.contains(&dir), "{first}");
    assert_eq!(s.read("out.txt"), b"", "the command never ran");

    // Sticky, like /tmp: others cannot replace what is ours there.
    chmod(&s.path("pub"), 0o1777);
    let r = s.once(&["-c", "pub/lc.conf"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(s.read("out.txt"), b"one\n");
}

#[test]
fn reload_keeps_the_settings_when_the_config_file_became_writable_by_others() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    // Not followed yet: its line must not come out before a reload is accepted.
    s.append("b.log", b"b0\n");
    s.write("lc.conf", RUNS_A_COMMAND);
    let conf = s.path("lc.conf");
    chmod(&conf, 0o644);
    let d = s.spawn(&["-c", "lc.conf", "-i", "20ms"]);
    wait_file_eq(&s.path("out.txt"), b"a1\n");

    s.write(
        "lc.conf",
        b"path = a.log\npath = b.log\noutput = |cat >> out.txt\n",
    );
    chmod(&conf, 0o666);
    d.signal(libc::SIGHUP);
    d.wait_stderr("reload: ");
    let stderr = d.stderr();
    assert!(
        stderr.contains("lc.conf:3: a config file that names a command must be writable only by root or the user running the collector")
            && stderr.contains("keeping the current settings"),
        "{stderr}"
    );
    s.append("a.log", b"a2\n");
    wait_file_eq(&s.path("out.txt"), b"a1\na2\n");

    chmod(&conf, 0o644);
    d.signal(libc::SIGHUP);
    wait_file_eq(&s.path("out.txt"), b"a1\na2\nb0\n");
    d.stop_ok();
}

#[test]
fn start_up_logs_one_summary_line_instead_of_a_line_per_file() {
    let s = Scenario::new();
    fs::create_dir(s.path("logs")).unwrap();
    for i in 0..30 {
        s.append(
            &format!("logs/f{i:02}.log"),
            format!("first {i}\n").as_bytes(),
        );
    }
    let r = s.once(&["logs/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(line_count(&r.stdout), 30);
    let summary =
        "found 30 files: 0 resumed from the checkpoint, 30 started at the beginning, 0 at the end";
    assert_eq!(r.stderr.matches(summary).count(), 1, "{}", r.stderr);
    assert!(
        !r.stderr.contains("logs/f"),
        "a line per file:\n{}",
        r.stderr
    );

    // Known files resume; new ones start at their end with --from-end.
    for i in 0..10 {
        s.append(
            &format!("logs/f{i:02}.log"),
            format!("second {i}\n").as_bytes(),
        );
    }
    for i in 30..35 {
        s.append(
            &format!("logs/f{i:02}.log"),
            format!("old {i}\n").as_bytes(),
        );
    }
    let r = s.once(&["--from-end", "logs/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(line_count(&r.stdout), 10, "{}", r.stdout_str());
    let summary =
        "found 35 files: 30 resumed from the checkpoint, 0 started at the beginning, 5 at the end";
    assert!(r.stderr.contains(summary), "{}", r.stderr);
    assert!(
        !r.stderr.contains("logs/f"),
        "a line per file:\n{}",
        r.stderr
    );

    // With -v, each file has its line at debug.
    s.append("logs/f35.log", b"new\n");
    let r = s.once(&["-v", "logs/*.log"]);
    assert!(
        r.stderr
            .contains("DEBUG following logs/f35.log from the beginning"),
        "{}",
        r.stderr
    );

    // A file that appears while running is logged on its own.
    let d = s.spawn(&["-i", "20ms", "logs/*.log"]);
    d.wait_stderr("found 36 files: 36 resumed");
    s.append("logs/late.log", b"late\n");
    d.wait_stderr("INFO  following logs/late.log from the beginning");
    d.wait_stdout_eq(b"late\n");
    d.stop_ok();
}
