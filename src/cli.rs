//! The command line, exactly as the contract words it. This struct only mirrors
//! the flags: anything the config file can also set is an `Option`, so that
//! "not given" differs from "given the default", and `config.rs` fills in the
//! defaults once the config file has been read.

use argh::FromArgs;

/// Follow log files by polling and write their new lines to one output.
#[derive(FromArgs, Debug, Default, PartialEq)]
#[argh(
    example = "Follow nginx logs and print new lines:\n  $ {command_name} '/var/log/nginx/*.log'",
    example = "Catch up once from cron, as json, into a file:\n  $ {command_name} --once --format json -o /var/spool/logs.json /var/log/app.log",
    example = "Start at the end of existing files, poll every second:\n  $ {command_name} --from-end -i 1s /var/log/syslog",
    example = "Take everything from a config file:\n  $ {command_name} -c /etc/log-collector.conf",
    note = "PATH is a file or a pattern with *, ? or [...] in its file-name component; quote patterns so the shell leaves them alone.",
    note = "Logs go to stderr (RUST_LOG sets the filter, default info). Exit status: 0 success, 1 runtime failure, 2 usage or config error."
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

    /// where lines go: - (stdout, default), a file (appended) or a FIFO
    #[argh(option, short = 'o', arg_name = "DEST")]
    pub output: Option<String>,

    /// poll interval: 250ms, 1s, 2m or bare milliseconds (default 250ms)
    #[argh(option, short = 'i', arg_name = "DUR")]
    pub interval: Option<String>,

    /// bring every file up to date, save the checkpoint and exit
    #[argh(switch)]
    pub once: bool,

    /// start files with no checkpoint history at their end
    #[argh(switch)]
    pub from_end: bool,

    /// output format: raw (default) or json
    #[argh(option, arg_name = "raw|json")]
    pub format: Option<String>,

    /// longest line delivered whole, in bytes (default 1048576); longer lines
    /// come out in pieces of this size
    #[argh(option, arg_name = "N")]
    pub max_line_bytes: Option<String>,

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
