//! The command line, exactly as the contract words it. This struct only mirrors
//! the flags: anything the config file can also set is an `Option`, so that
//! "not given" differs from "given the default", and `config.rs` fills in the
//! defaults once the config file has been read.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use argh::FromArgs;

/// argh parses `&str`, but file names are bytes. An argument that is not
/// UTF-8 is handed to argh with each invalid byte `b` written as the
/// private-use character U+F700 + b, and `path_from_arg` turns those back
/// into bytes. (A valid path that itself holds U+F700..U+F7FF would be
/// misread; such names do not occur in practice.)
pub fn encode_arg(arg: OsString) -> String {
    match arg.into_string() {
        Ok(s) => s,
        Err(raw) => {
            let mut out = String::new();
            for chunk in raw.into_vec().utf8_chunks() {
                out.push_str(chunk.valid());
                for &b in chunk.invalid() {
                    out.push(
                        char::from_u32(0xF700 + u32::from(b)).expect("a private-use character"),
                    );
                }
            }
            out
        }
    }
}

/// Reverses `encode_arg` for an argument that names a path.
pub fn path_from_arg(arg: &str) -> PathBuf {
    if !arg.chars().any(|c| ('\u{F700}'..='\u{F7FF}').contains(&c)) {
        return PathBuf::from(arg);
    }
    let mut bytes = Vec::with_capacity(arg.len());
    for c in arg.chars() {
        match u32::from(c) {
            code @ 0xF700..=0xF7FF => bytes.push((code - 0xF700) as u8),
            _ => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    PathBuf::from(OsString::from_vec(bytes))
}

/// Follow log files by polling and write their new lines to one output.
#[derive(FromArgs, Debug, Default, PartialEq)]
// Not argh's default `help` trigger: `help` is a PATH like any other, so a
// file named help can be followed without `./`.
#[argh(
    help_triggers("-h", "--help"),
    example = "Follow nginx logs and print new lines:\n  $ {command_name} '/var/log/nginx/*.log'",
    example = "Catch up once from cron, as json, into a file:\n  $ {command_name} --once --format json -o /var/spool/logs.json /var/log/app.log",
    example = "Start at the end of existing files, poll every second:\n  $ {command_name} --from-end -i 1s /var/log/syslog",
    example = "Take everything from a config file:\n  $ {command_name} -c /etc/log-collector.conf",
    note = "PATH is a file or a pattern: *, ? and [...] in any component, ** for any number of directories (at most 16 deep, 10000 directories a PATH); quote patterns so the shell leaves them alone.",
    note = "Logs go to stderr (RUST_LOG sets the filter, default info). Exit status: 0 success, 1 runtime failure, 2 usage or config error, 3 state dir owned by another user."
)]
pub struct Args {
    /// files or patterns to follow
    #[argh(positional, arg_name = "PATH")]
    pub paths: Vec<String>,

    /// config file of `key = value` lines (keys are the long option names)
    #[argh(option, short = 'c', arg_name = "FILE")]
    pub config: Option<String>,

    /// state directory (default: $STATE_DIRECTORY, /var/lib/log-collector for
    /// root, else ~/.local/state/log-collector)
    #[argh(option, short = 's', arg_name = "DIR")]
    pub state_dir: Option<String>,

    /// where lines go: - (stdout, default), a file (appended; one collector
    /// per file), a FIFO, or |COMMAND (run with sh -c and fed on its stdin)
    #[argh(option, short = 'o', arg_name = "DEST")]
    pub output: Option<String>,

    /// poll interval: 250ms, 1s, 2m, 1h or bare milliseconds, from 1ms to 1h
    /// (default 250ms)
    #[argh(option, short = 'i', arg_name = "DUR")]
    pub interval: Option<String>,

    /// bring every file up to date, save the checkpoint and exit
    #[argh(switch)]
    pub once: bool,

    /// with --once: how long a failing output is retried, or a FIFO reader
    /// waited for, before the run gives up with status 1 (default 1m)
    #[argh(option, arg_name = "DUR")]
    pub once_timeout: Option<String>,

    /// start files with no checkpoint history at their end
    #[argh(switch)]
    pub from_end: bool,

    /// output format: raw (default), or json: one object a line, with keys
    /// time (when the line was read, RFC 3339 UTC), host, the --field keys,
    /// path, offset and line, in that order
    #[argh(option, arg_name = "raw|json")]
    pub format: Option<String>,

    /// json: the value of `host` (default: this machine's node name, as
    /// `uname -n` prints it)
    #[argh(option, arg_name = "NAME")]
    pub host: Option<String>,

    /// json: a field added to every record, after host (repeatable, each KEY
    /// once; not time, host, path, offset or line)
    #[argh(option, arg_name = "KEY=VALUE")]
    pub field: Vec<String>,

    /// longest line delivered whole, in bytes, with an optional K, M or G
    /// suffix (default 1M, at most 1G); longer lines come out in pieces of
    /// this size
    #[argh(option, arg_name = "N")]
    pub max_line_bytes: Option<String>,

    /// write Prometheus metrics to this file (replaced at most once a second;
    /// not a followed file, the output or a file of the state dir)
    #[argh(option, arg_name = "PATH")]
    pub stats_file: Option<String>,

    /// leave out paths matching this pattern (repeatable; * stays within a
    /// component, ** spans any number), also files named literally
    #[argh(option, arg_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// do not fsync the output and the checkpoint after each cycle
    #[argh(switch)]
    pub no_fsync: bool,

    /// log at debug level
    #[argh(switch, short = 'v')]
    pub verbose: bool,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn non_utf8_arguments_round_trip() {
        let raw = OsString::from_vec(b"my app\xff\xc3.log".to_vec());
        let arg = encode_arg(raw.clone());
        assert_eq!(path_from_arg(&arg).as_os_str(), raw.as_os_str());
        assert_eq!(
            path_from_arg("plain/é.log").as_os_str().as_bytes(),
            "plain/é.log".as_bytes()
        );
    }
}
