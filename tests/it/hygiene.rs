//! What the collector tells its operator, and what it trusts: a config file
//! that names a command must be safe from other users; file names cannot
//! forge log lines; start-up logs a summary, not a line per file.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

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
