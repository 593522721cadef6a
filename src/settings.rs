//! The resolved configuration, as plain data: what every step reads and
//! nothing else. Built by `config` (command line over config file), read
//! by the collector, the encoder and the check of reserved paths; a SIGHUP
//! builds a new one and swaps it in between cycles.

use std::path::PathBuf;
use std::time::Duration;

/// The keys the collector sets itself; a static field may not use them.
pub const RESERVED_KEYS: [&str; 5] = ["time", "host", "path", "offset", "line"];

/// How lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Each line exactly as read, newline included.
    Raw,
    /// One JSON object a line with `time`, `host`, the static fields,
    /// `path`, `offset` and `line`.
    Json,
}

/// Where lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputSpec {
    /// Standard output.
    Stdout,
    /// A regular file (appended to) or a FIFO.
    Path(PathBuf),
    /// `|COMMAND`: a shell command fed on its stdin.
    Command(String),
}

/// The resolved configuration. The rest of the program only reads it; a
/// SIGHUP builds a new one and swaps it in between cycles.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Files and patterns to follow, as given (relative config paths already joined).
    pub paths: Vec<PathBuf>,
    /// Patterns of paths not to follow, matched against the paths the PATHs
    /// name (relative config ones joined, unless they start with `**`).
    pub excludes: Vec<PathBuf>,
    /// Directory holding `checkpoints` and `lock`.
    pub state_dir: PathBuf,
    /// Where lines go.
    pub output: OutputSpec,
    /// Fixed poll interval, 1 ms to 1 h.
    pub interval: Duration,
    /// Catch up once and exit.
    pub once: bool,
    /// With `once`: how long a failing output is retried before giving up.
    pub once_timeout: Duration,
    /// Files without checkpoint history that exist at start-up begin at their end.
    pub from_end: bool,
    /// Output format.
    pub format: Format,
    /// json's `host`: `--host`, else this machine's node name. Empty with
    /// raw unless given (the node name is read for json only).
    pub host: String,
    /// json's static fields, in the order given; no key reserved or repeated.
    pub fields: Vec<(String, String)>,
    /// Longest line delivered whole; longer ones are cut into pieces of this size.
    pub max_line_bytes: usize,
    /// fsync output and checkpoint after each cycle that wrote.
    pub fsync: bool,
    /// Prometheus metrics file, replaced at most once a second.
    pub stats_file: Option<PathBuf>,
    /// Debug logging.
    pub verbose: bool,
    /// The config file the settings came from, re-read on SIGHUP.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// With raw output, a warning about what only json uses, when given:
    /// an operator who added fields should learn that they go nowhere.
    pub fn unused_with_raw(&self) -> Option<&'static str> {
        let given = !self.host.is_empty() || !self.fields.is_empty();
        (self.format == Format::Raw && given).then_some(
            "--host and --field (`host =`, `field =`) are used with --format json only; \
             raw lines go out exactly as read",
        )
    }
}
