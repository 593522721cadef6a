//! The one error type of the collector, its exit codes, and a helper that gives
//! every I/O error the name of the thing it is about.
//!
//! Per-file problems (a missing log file, an unreadable one) are not errors
//! here: the collector logs them and carries on. Only what ends the process
//! (bad usage, an unusable state dir, a corrupt checkpoint, an output that is
//! gone) becomes an `Error` and travels up to `main`.

use std::fmt;
use std::io;
use std::path::Path;

/// Process exit statuses, named once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything worked (warnings about single files included).
    Success,
    /// A runtime failure: output gone, state dir unusable, corrupt checkpoint, lock held.
    Failure,
    /// A usage or configuration error.
    Usage,
    /// The state dir or a file in it belongs to another user. Retrying
    /// cannot help, so the systemd unit does not restart on it.
    Ownership,
}

impl ExitCode {
    /// The integer status handed to the operating system.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::Ownership => 3,
        }
    }
}

/// Everything that stops the collector.
#[derive(Debug)]
pub enum Error {
    /// A bad flag or value. The message names the option and the value.
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A bad line in a config file: `location` is `file:line`.
    Config { location: String, message: String },
    /// An I/O failure on a named thing (the context says what and which).
    Io { context: String, source: io::Error },
    /// The checkpoint file cannot be trusted. `line` is 0 when the whole file is at fault.
    Checkpoint {
        path: String,
        line: usize,
        message: String,
    },
    /// Another collector holds the state dir.
    LockHeld { lock: String },
    /// The state dir or a file in it is unusable as it is, for a reason the
    /// user fixes (not corruption): `hint` says how.
    State { message: String, hint: String },
    /// The state dir or a file in it belongs to a user other than the one
    /// the collector runs as (see `checkpoint/ownership.rs`).
    Ownership { message: String, hint: String },
    /// Another collector writes to the output file (it holds its lock).
    OutputLocked { output: String },
    /// The output went away for good (stdout closed).
    OutputGone { what: String, source: io::Error },
    /// `--once` ended before everything was delivered: the output took
    /// nothing for `--once-timeout`, or a stop signal came first; or its
    /// `|COMMAND` output exited with a status other than 0.
    Unfinished { message: String, hint: String },
}

impl Error {
    /// A usage error without a hint line.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage {
            message: message.into(),
            hint: None,
        }
    }

    /// The exit status this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage { .. } | Error::Config { .. } => ExitCode::Usage,
            Error::Ownership { .. } => ExitCode::Ownership,
            Error::Io { .. }
            | Error::Checkpoint { .. }
            | Error::LockHeld { .. }
            | Error::State { .. }
            | Error::OutputLocked { .. }
            | Error::OutputGone { .. }
            | Error::Unfinished { .. } => ExitCode::Failure,
        }
    }

    /// What the process says about this error on stderr as it ends: the
    /// message and the hint, one line each, each ended by a newline.
    pub fn report(&self) -> String {
        match self.hint() {
            Some(hint) => format!("log-collector: {self}\nlog-collector: hint: {hint}\n"),
            None => format!("log-collector: {self}\n"),
        }
    }

    /// An optional second line telling the user what to do.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. } => hint.clone(),
            Error::Config { .. } => None,
            Error::Io { .. } => None,
            Error::Checkpoint { path, .. } => Some(format!(
                "to start over, move {path} away: files are then read again from their \
                 beginning (or their end with --from-end)"
            )),
            Error::LockHeld { .. } => {
                Some("stop the other collector, or give this one its own --state-dir".into())
            }
            Error::State { hint, .. } | Error::Ownership { hint, .. } => Some(hint.clone()),
            Error::OutputLocked { .. } => Some(
                "a file output belongs to one collector: stop the other one, or give this one \
                 its own --output"
                    .into(),
            ),
            Error::OutputGone { .. } => Some(
                "lines not yet confirmed by a saved checkpoint are sent again on the next start"
                    .into(),
            ),
            Error::Unfinished { hint, .. } => Some(hint.clone()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage { message, .. } => write!(f, "{message}"),
            Error::Config { location, message } => write!(f, "{location}: {message}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Checkpoint {
                path,
                line: 0,
                message,
            } => {
                write!(f, "checkpoint file {path}: {message}")
            }
            Error::Checkpoint {
                path,
                line,
                message,
            } => {
                write!(f, "checkpoint file {path}:{line}: {message}")
            }
            Error::LockHeld { lock } => write!(
                f,
                "another log-collector is already using this state dir (lock {lock} is held)"
            ),
            Error::State { message, .. } | Error::Ownership { message, .. } => {
                write!(f, "{message}")
            }
            Error::OutputLocked { output } => write!(
                f,
                "another collector writes to output file {output} (it holds the file's lock)"
            ),
            Error::OutputGone { what, source } => write!(f, "{what} is gone: {source}"),
            Error::Unfinished { message, .. } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::OutputGone { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Adds context to an `io::Result` where the error happens, so that the final
/// message names the file: `.context(|| format!("cannot open {}", ...))`.
pub trait IoContext<T> {
    fn context<F: FnOnce() -> String>(self, what: F) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context<F: FnOnce() -> String>(self, what: F) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

/// Shows a path for a message. A file name is chosen by whoever created the
/// file, and a newline or an escape sequence in it would forge log lines or
/// drive the terminal, so it is escaped (see [`escape`]).
pub fn show(path: &Path) -> String {
    escape(path.as_os_str().as_encoded_bytes())
}

/// Bytes as one line of inert text: `\\` for a backslash, `\n`, `\r` and
/// `\t`, `\xHH` for other control bytes and for bytes that are not UTF-8,
/// and `\u{HHHH}` for the other Unicode controls, the line and paragraph
/// separators and the bidirectional overrides (which reorder what a reader
/// sees). Everything else is kept, so a plain name reads as it is, and the
/// doubled backslash keeps an escape apart from a name that spells one.
pub fn escape(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let _ = match c {
                '\\' => out.write_str("\\\\"),
                '\n' => out.write_str("\\n"),
                '\r' => out.write_str("\\r"),
                '\t' => out.write_str("\\t"),
                c if c.is_ascii_control() => write!(out, "\\x{:02x}", c as u32),
                c if c.is_control() || is_invisible_format(c) => {
                    write!(out, "\\u{{{:04x}}}", c as u32)
                }
                c => out.write_char(c),
            };
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Characters that break a line or reorder text without showing themselves.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_stable() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::Failure.code(), 1);
        assert_eq!(ExitCode::Usage.code(), 2);
        assert_eq!(ExitCode::Ownership.code(), 3);
        assert_eq!(Error::usage("x").exit_code(), ExitCode::Usage);
        let lock = Error::LockHeld {
            lock: "/s/lock".into(),
        };
        assert_eq!(lock.exit_code(), ExitCode::Failure);
    }

    #[test]
    fn messages_name_their_subject() {
        let e = Error::Checkpoint {
            path: "/s/checkpoints".into(),
            line: 3,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "checkpoint file /s/checkpoints:3: bad");
        let e = Error::Config {
            location: "/etc/lc.conf:7".into(),
            message: "unknown key".into(),
        };
        assert_eq!(e.to_string(), "/etc/lc.conf:7: unknown key");
        assert_eq!(
            e.report(),
            "log-collector: /etc/lc.conf:7: unknown key\n",
            "no hint, one line"
        );
        let e = Error::LockHeld {
            lock: "/s/lock".into(),
        };
        let report = e.report();
        assert_eq!(report.lines().count(), 2, "{report}");
        assert!(report
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("log-collector: hint: "));
        let r: io::Result<()> = Err(io::Error::from(io::ErrorKind::NotFound));
        let e = r.context(|| "cannot open /x".to_string()).unwrap_err();
        assert!(e.to_string().starts_with("cannot open /x: "));
    }

    #[test]
    fn shown_paths_stay_on_one_line() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let shown = |bytes: &[u8]| show(Path::new(OsStr::from_bytes(bytes)));
        assert_eq!(shown(b"/var/log/app.log"), "/var/log/app.log");
        assert_eq!(shown("/tmp/caf\u{e9}.log".as_bytes()), "/tmp/caf\u{e9}.log");
        assert_eq!(shown(b"a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(shown(b"\x1b[31mred\x7f\x00"), "\\x1b[31mred\\x7f\\x00");
        assert_eq!(shown(b"back\\slash"), "back\\\\slash");
        assert_eq!(shown(b"bad\xff\xc3("), "bad\\xff\\xc3(");
        assert_eq!(shown("c1\u{9b}2m".as_bytes()), "c1\\u{009b}2m");
        assert_eq!(shown("rtl\u{202e}gol".as_bytes()), "rtl\\u{202e}gol");
        assert_eq!(shown("ls\u{2028}x".as_bytes()), "ls\\u{2028}x");
    }
}
