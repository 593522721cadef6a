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
}

impl ExitCode {
    /// The integer status handed to the operating system.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
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
    /// Another collector writes to the output file (it holds its lock).
    OutputLocked { output: String },
    /// The output went away for good (stdout closed).
    OutputGone { what: String, source: io::Error },
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
            Error::Io { .. }
            | Error::Checkpoint { .. }
            | Error::LockHeld { .. }
            | Error::OutputLocked { .. }
            | Error::OutputGone { .. } => ExitCode::Failure,
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
            Error::OutputLocked { .. } => Some(
                "a file output belongs to one collector: stop the other one, or give this one \
                 its own --output"
                    .into(),
            ),
            Error::OutputGone { .. } => Some(
                "lines not yet confirmed by a saved checkpoint are sent again on the next start"
                    .into(),
            ),
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
            Error::OutputLocked { output } => write!(
                f,
                "another collector writes to output file {output} (it holds the file's lock)"
            ),
            Error::OutputGone { what, source } => write!(f, "{what} is gone: {source}"),
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

/// Shows a path for a message: lossy for non-UTF-8 bytes, which is fine for humans.
pub fn show(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_stable() {
        assert_eq!(ExitCode::Success.code(), 0);
        assert_eq!(ExitCode::Failure.code(), 1);
        assert_eq!(ExitCode::Usage.code(), 2);
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
        let r: io::Result<()> = Err(io::Error::from(io::ErrorKind::NotFound));
        let e = r.context(|| "cannot open /x".to_string()).unwrap_err();
        assert!(e.to_string().starts_with("cannot open /x: "));
    }
}
