//! From the command line and the optional config file to one `Settings`.
//!
//! The config file has `key = value` lines whose keys are the long option
//! names; `#` starts a comment line; `path =` and `exclude =` may repeat.
//! Values given on the command line win over the file, and PATHs (excludes)
//! on the command line replace the file's `path =` (`exclude =`) lines. Defaults are filled in only here, once all input has
//! been read, which is what keeps "the command line wins" correct.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{path_from_arg, Args};
use crate::error::{escape, show, Error};
use crate::settings::{Format, OutputSpec, Settings, RESERVED_KEYS};

/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
/// Default for how long `--once` retries a failing output.
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default longest line delivered whole.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;
/// Upper bound for `--max-line-bytes`: the splitter holds one such line in memory.
pub const MAX_MAX_LINE_BYTES: usize = 1 << 30;

/// What a config file says; every field is `None` when the file is silent.
#[derive(Debug, Default, PartialEq)]
pub struct FileValues {
    pub paths: Vec<PathBuf>,
    pub excludes: Vec<PathBuf>,
    pub state_dir: Option<(PathBuf, String)>,
    pub output: Option<(OsString, String)>,
    pub interval: Option<(String, String)>,
    pub once: Option<bool>,
    pub once_timeout: Option<(String, String)>,
    pub from_end: Option<bool>,
    pub format: Option<(String, String)>,
    pub host: Option<(String, String)>,
    /// Each `field =` value with its location, in file order.
    pub fields: Vec<(String, String)>,
    pub max_line_bytes: Option<(String, String)>,
    pub no_fsync: Option<bool>,
    pub stats_file: Option<PathBuf>,
    pub verbose: Option<bool>,
}

/// Reads and parses a config file. Relative paths in it are taken relative to
/// the file's directory. A file that names a command must be safe from other
/// users (see `check_trusted`).
pub fn parse_file(path: &Path) -> Result<FileValues, Error> {
    let cannot =
        |e: io::Error| Error::usage(format!("cannot read config file {}: {e}", show(path)));
    let mut file = fs::File::open(path).map_err(cannot)?;
    // The file checked is the file read, whatever happens to the path meanwhile.
    let meta = file.metadata().map_err(cannot)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let values = parse_reader(&bytes, &show(path), base)?;
    if let Some((output, location)) = &values.output {
        if output.as_encoded_bytes().starts_with(b"|") {
            check_trusted(path, &meta).map_err(|problem| Error::Config {
                location: location.clone(),
                message: format!(
                    "a config file that names a command must be writable only by root or \
                     the user running the collector, but {problem}"
                ),
            })?;
        }
    }
    Ok(values)
}

/// Whether a config file could have been written by someone other than root
/// or the user running the collector, the rule sshd's StrictModes applies:
/// the file (`meta`, as read) and each directory above it, on the way as given
/// and on its real path once symlinks are resolved, must be owned by root or
/// by that user, and not writable by group or others. A directory with the
/// sticky bit (`/tmp`) may be writable by others: they cannot rename or
/// remove what they do not own there. Err says what is wrong and the fix.
fn check_trusted(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if let Some(problem) = exposure(meta.uid(), meta.mode(), false, me) {
        return Err(problem.describe("it", path, me));
    }
    let cannot = |what: &Path, e: io::Error| format!("{} cannot be checked: {e}", show(what));
    let absolute = std::env::current_dir()
        .map_err(|e| cannot(Path::new("."), e))?
        .join(path);
    let real = fs::canonicalize(path).map_err(|e| cannot(path, e))?;
    for dir in absolute.ancestors().skip(1).chain(real.ancestors().skip(1)) {
        let m = fs::metadata(dir).map_err(|e| cannot(dir, e))?;
        if let Some(problem) = exposure(m.uid(), m.mode(), true, me) {
            let what = format!("the directory {} above it", show(dir));
            return Err(problem.describe(&what, dir, me));
        }
    }
    Ok(())
}

/// Why someone else could change a file or directory.
#[derive(Debug, PartialEq, Eq)]
enum Exposure {
    /// Owned by this uid, neither root nor the user running the collector.
    Owner(u32),
    /// Writable by group or others; `mode` is the permission bits.
    Writable { mode: u32, dir: bool },
}

impl Exposure {
    /// "`what` is ...: fix", for `at`, with `me` the user running the collector.
    fn describe(&self, what: &str, at: &Path, me: u32) -> String {
        let at = show(at);
        match *self {
            Exposure::Owner(uid) if me == 0 => {
                format!("{what} is owned by uid {uid}: chown root {at}")
            }
            Exposure::Owner(uid) => format!(
                "{what} is owned by uid {uid}, neither root nor uid {me} (running the \
                 collector): chown {me} {at}"
            ),
            Exposure::Writable { mode, dir } => format!(
                "{what} is writable by group or others (mode {mode:04o}{}): chmod go-w {at}",
                if dir { ", not sticky" } else { "" }
            ),
        }
    }
}

/// What is wrong with a file or directory owned by `uid` with `mode`, for the
/// user `me`; None when only root and `me` can change it.
fn exposure(uid: u32, mode: u32, dir: bool, me: u32) -> Option<Exposure> {
    const STICKY: u32 = 0o1000;
    if uid != 0 && uid != me {
        return Some(Exposure::Owner(uid));
    }
    let sticky = dir && mode & STICKY != 0;
    if mode & 0o022 != 0 && !sticky {
        return Some(Exposure::Writable {
            mode: mode & 0o7777,
            dir,
        });
    }
    None
}

/// Parses config file contents. `name` is used in error locations (`name:line`),
/// `base` is the directory relative paths are joined to.
pub fn parse_reader(bytes: &[u8], name: &str, base: &Path) -> Result<FileValues, Error> {
    let mut values = FileValues::default();
    // Where each key was set: a second value for a key that holds one would
    // silently win over the first.
    let mut set_at: Vec<(String, String)> = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let location = format!("{name}:{}", index + 1);
        let err = |message: String| Error::Config {
            location: location.clone(),
            message,
        };
        let line = trim(raw.strip_suffix(b"\r").unwrap_or(raw));
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return Err(err("expected `key = value`".into()));
        };
        let key = std::str::from_utf8(trim(&line[..eq]))
            .map_err(|_| err("the key is not valid UTF-8".into()))?;
        if !matches!(key, "path" | "field" | "exclude") {
            if let Some((_, first)) = set_at.iter().find(|(k, _)| k == key) {
                return Err(err(format!(
                    "`{key}` is already set at {first}: give it once (only `path`, \
                     `exclude` and `field` may repeat)"
                )));
            }
            set_at.push((key.to_string(), location.clone()));
        }
        let value = trim(&line[eq + 1..]);
        if value.is_empty() {
            return Err(err(format!("`{key}` has no value")));
        }
        let text = || {
            std::str::from_utf8(value)
                .map(str::to_owned)
                .map_err(|_| err(format!("the value of `{key}` is not valid UTF-8")))
        };
        let relative = |v: &[u8]| base.join(OsString::from_vec(v.to_vec()));
        let switch = || match value {
            b"true" => Ok(true),
            b"false" => Ok(false),
            _ => Err(err(format!("`{key}` takes true or false"))),
        };
        match key {
            "path" => values.paths.push(relative(value)),
            // `**/...` matches at any depth, wherever the config file is.
            "exclude" if value.starts_with(b"**") => values
                .excludes
                .push(OsString::from_vec(value.to_vec()).into()),
            "exclude" => values.excludes.push(relative(value)),
            "state-dir" => values.state_dir = Some((relative(value), location.clone())),
            "output" => {
                let out = if value == b"-" || value[0] == b'|' {
                    OsString::from_vec(value.to_vec())
                } else {
                    relative(value).into_os_string()
                };
                values.output = Some((out, location.clone()));
            }
            "interval" => values.interval = Some((text()?, location.clone())),
            "once" => values.once = Some(switch()?),
            "once-timeout" => values.once_timeout = Some((text()?, location.clone())),
            "from-end" => values.from_end = Some(switch()?),
            "format" => values.format = Some((text()?, location.clone())),
            "host" => values.host = Some((text()?, location.clone())),
            "field" => values.fields.push((text()?, location.clone())),
            "max-line-bytes" => values.max_line_bytes = Some((text()?, location.clone())),
            "no-fsync" => values.no_fsync = Some(switch()?),
            "stats-file" => values.stats_file = Some(relative(value)),
            "verbose" => values.verbose = Some(switch()?),
            _ => return Err(err(format!("unknown key `{key}`"))),
        }
    }
    Ok(values)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !first.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !last.is_ascii_whitespace() {
            break;
        }
        s = rest;
    }
    s
}

/// Splits `250ms` into 250 and `ms`; `expected` is the message for a missing
/// number, `too_large` for one beyond `u64`.
fn number_and_unit<'s>(
    s: &'s str,
    expected: &str,
    too_large: &str,
) -> Result<(u64, &'s str), String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = s.split_at(digits);
    let n = number.parse().map_err(|_| {
        if digits == 0 {
            expected.to_string()
        } else {
            too_large.to_string()
        }
    })?;
    Ok((n, unit))
}

/// Parses `250ms`, `1s`, `2m`, `1h` or bare milliseconds, within 1 ms to 1 h.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = number_and_unit(
        s,
        "expected a number with an optional unit ms, s, m or h",
        "must be between 1ms and 1h",
    )?;
    let ms = match unit {
        "" | "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("unknown unit `{unit}`: use ms, s, m or h")),
    };
    match ms {
        Some(ms) if (1..=3_600_000).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err("must be between 1ms and 1h".into()),
    }
}

/// Parses a byte count with an optional binary suffix (`64K`, `1MiB`), at least 1.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let too_large = format!("too large: the maximum is {MAX_MAX_LINE_BYTES} (1 GiB)");
    let (n, unit) = number_and_unit(s, "expected a positive number of bytes", &too_large)?;
    let scale: u64 = match unit {
        "" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return Err(format!("unknown unit `{unit}`: use K, M or G (binary)")),
    };
    let bytes = n.saturating_mul(scale);
    if bytes == 0 {
        return Err("must be at least 1".into());
    }
    if bytes > MAX_MAX_LINE_BYTES as u64 {
        return Err(too_large);
    }
    usize::try_from(bytes).map_err(|_| "too large for this machine".into())
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "raw" => Ok(Format::Raw),
        "json" => Ok(Format::Json),
        _ => Err("expected raw or json".into()),
    }
}

/// `--host` or `host =`, trimmed and not empty; without either, for json,
/// the machine's node name from `node`.
fn pick_host(
    cli: &Option<String>,
    file: Option<(String, String)>,
    json: bool,
    node: impl Fn() -> io::Result<Vec<u8>>,
) -> Result<String, Error> {
    let check = |value: &str| match trim_str(value) {
        "" => Err("empty".to_string()),
        host => Ok(host.to_string()),
    };
    if let Some(arg) = cli {
        let bad = |e: String| {
            Error::usage(format!(
                "invalid value '{}' for --host: {e}",
                escape_arg(arg)
            ))
        };
        return check(&utf8_arg(arg).map_err(bad)?).map_err(bad);
    }
    if let Some((value, location)) = file {
        // Does not fail today: the parser refuses a line without a value.
        return check(&value).map_err(|e| Error::Config {
            location,
            message: format!(
                "invalid value '{}' for `host`: {e}",
                escape(value.as_bytes())
            ),
        });
    }
    if !json {
        return Ok(String::new());
    }
    let fix = "give one with --host NAME or `host =` in the config file";
    match node() {
        Ok(name) if !name.is_empty() => Ok(String::from_utf8_lossy(&name).into_owned()),
        Ok(_) => Err(Error::usage(format!(
            "this machine's host name is empty: {fix}"
        ))),
        Err(e) => Err(Error::usage(format!(
            "cannot read this machine's host name (uname: {e}): {fix}"
        ))),
    }
}

/// This machine's node name, as `uname -n` prints it.
fn node_name() -> io::Result<Vec<u8>> {
    // SAFETY: utsname holds only byte arrays, for which all zeroes is a
    // valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid utsname for uname to fill in.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let name = uts.nodename.iter().take_while(|&&c| c != 0);
    Ok(name.map(|&c| c as u8).collect())
}

/// The `--field` values, or else the `field =` lines: the command line's
/// replace the file's, as PATHs replace `path =` lines.
fn pick_fields(
    cli: &[String],
    file: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, Error> {
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut given_at: Vec<String> = Vec::new();
    if !cli.is_empty() {
        for arg in cli {
            let bad = |e: String| {
                Error::usage(format!(
                    "invalid value '{}' for --field: {e}",
                    escape_arg(arg)
                ))
            };
            let (key, value) = parse_field(&utf8_arg(arg).map_err(bad)?).map_err(bad)?;
            if fields.iter().any(|(k, _)| *k == key) {
                return Err(bad(format!(
                    "the key `{}` is given twice",
                    escape(key.as_bytes())
                )));
            }
            fields.push((key, value));
        }
        return Ok(fields);
    }
    for (text, location) in file {
        let bad = |e: String| Error::Config {
            location: location.clone(),
            message: format!(
                "invalid value '{}' for `field`: {e}",
                escape(text.as_bytes())
            ),
        };
        let (key, value) = parse_field(&text).map_err(bad)?;
        if let Some(i) = fields.iter().position(|(k, _)| *k == key) {
            return Err(bad(format!(
                "the key `{}` is already given at {}",
                escape(key.as_bytes()),
                given_at[i]
            )));
        }
        fields.push((key, value));
        given_at.push(location);
    }
    Ok(fields)
}

/// Splits `KEY=VALUE` at its first `=`; blanks around the key and the value
/// are dropped. The key must not be empty, nor one the collector sets.
fn parse_field(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err("expected KEY=VALUE".into());
    };
    let (key, value) = (trim_str(key), trim_str(value));
    if key.is_empty() {
        return Err("the key is empty: expected KEY=VALUE".into());
    }
    if RESERVED_KEYS.contains(&key) {
        let own = format!(
            "`{key}` is a key the collector sets itself ({}): pick another",
            RESERVED_KEYS.join(", ")
        );
        return Err(if key == "host" {
            format!("{own}, or set the host with --host")
        } else {
            own
        });
    }
    Ok((key.to_string(), value.to_string()))
}

/// `s` without ASCII blanks at either end, like the config file's values.
fn trim_str(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// A command-line argument as the text it was, or why it is not text (see
/// `cli::encode_arg`).
fn utf8_arg(arg: &str) -> Result<String, String> {
    path_from_arg(arg)
        .into_os_string()
        .into_string()
        .map_err(|_| "not valid UTF-8".to_string())
}

/// A command-line argument for a message, its bytes as they were.
fn escape_arg(arg: &str) -> String {
    escape(path_from_arg(arg).as_os_str().as_encoded_bytes())
}

fn parse_output(s: OsString) -> OutputSpec {
    let bytes = s.as_encoded_bytes();
    if bytes == b"-" {
        OutputSpec::Stdout
    } else if let Some(command) = bytes.strip_prefix(b"|") {
        OutputSpec::Command(String::from_utf8_lossy(command).trim().to_string())
    } else {
        OutputSpec::Path(PathBuf::from(s))
    }
}

/// Where the environment says state lives when `--state-dir` is not given.
/// `env` looks up a variable; `is_root` is the effective user being root.
pub fn default_state_dir(env: impl Fn(&str) -> Option<OsString>, is_root: bool) -> PathBuf {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(dirs) = set("STATE_DIRECTORY") {
        // systemd joins several StateDirectory= entries with ':'; ours is the first.
        let bytes = dirs.into_vec();
        let first = bytes.split(|&b| b == b':').next().unwrap_or(&[]).to_vec();
        return PathBuf::from(OsString::from_vec(first));
    }
    if is_root {
        return PathBuf::from("/var/lib/log-collector");
    }
    if let Some(xdg) = set("XDG_STATE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return xdg.join("log-collector");
        }
    }
    let home = set("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/state/log-collector")
}

/// Builds `Settings` from the command line, reading the config file it names.
pub fn resolve(args: &Args) -> Result<Settings, Error> {
    let config_file = args.config.as_deref().map(path_from_arg);
    let file = match &config_file {
        Some(path) => parse_file(path)?,
        None => FileValues::default(),
    };
    merge(args, file, config_file)
}

/// Merges the command line over the config file's values and fills in defaults.
pub fn merge(
    args: &Args,
    file: FileValues,
    config_file: Option<PathBuf>,
) -> Result<Settings, Error> {
    // A bad value names the option when it came from the command line, and
    // `file:line` when it came from the config file.
    fn pick<T>(
        cli: &Option<String>,
        file: Option<(String, String)>,
        option: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        if let Some(value) = cli {
            return parse(value)
                .map(Some)
                .map_err(|e| Error::usage(format!("invalid value '{value}' for --{option}: {e}")));
        }
        match file {
            Some((value, location)) => parse(&value).map(Some).map_err(|e| Error::Config {
                location,
                message: format!("invalid value '{value}' for `{option}`: {e}"),
            }),
            None => Ok(None),
        }
    }

    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        file.paths
    } else {
        args.paths.iter().map(|p| path_from_arg(p)).collect()
    };
    if paths.is_empty() {
        return Err(Error::Usage {
            message: "no PATH given: name the files to follow on the command line or with \
                      `path =` in the config file"
                .into(),
            hint: Some("run with --help for usage".into()),
        });
    }
    if let Some(empty) = paths.iter().find(|p| p.as_os_str().is_empty()) {
        return Err(Error::usage(format!(
            "invalid PATH '{}': empty",
            show(empty)
        )));
    }
    let excludes: Vec<PathBuf> = if args.exclude.is_empty() {
        file.excludes
    } else {
        args.exclude.iter().map(|p| path_from_arg(p)).collect()
    };
    if excludes.iter().any(|p| p.as_os_str().is_empty()) {
        return Err(Error::usage(
            "invalid value '' for --exclude: empty (give a pattern such as '**/*.gz')",
        ));
    }

    let interval = pick(&args.interval, file.interval, "interval", parse_duration)?;
    let once_timeout = pick(
        &args.once_timeout,
        file.once_timeout,
        "once-timeout",
        parse_duration,
    )?;
    let format = pick(&args.format, file.format, "format", parse_format)?;
    let json = format == Some(Format::Json);
    let host = pick_host(&args.host, file.host, json, node_name)?;
    let fields = pick_fields(&args.field, file.fields)?;
    let max_line_bytes = pick(
        &args.max_line_bytes,
        file.max_line_bytes,
        "max-line-bytes",
        parse_size,
    )?;
    let output = match (&args.output, file.output) {
        (Some(cli), _) => parse_output(path_from_arg(cli).into_os_string()),
        (None, Some((value, _))) => parse_output(value),
        (None, None) => OutputSpec::Stdout,
    };
    if let OutputSpec::Command(command) = &output {
        if command.is_empty() {
            return Err(Error::usage(
                "invalid value '|' for --output: the command is empty",
            ));
        }
    }
    if output == OutputSpec::Path(PathBuf::new()) {
        return Err(Error::usage(
            "invalid value '' for --output: empty (use - for stdout)",
        ));
    }
    let state_dir = match (&args.state_dir, file.state_dir) {
        (Some(cli), _) => path_from_arg(cli),
        (None, Some((dir, _))) => dir,
        (None, None) => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let is_root = unsafe { libc::geteuid() } == 0;
            default_state_dir(|name| std::env::var_os(name), is_root)
        }
    };
    if state_dir.as_os_str().is_empty() {
        return Err(Error::usage("invalid value '' for --state-dir: empty"));
    }

    let settings = Settings {
        paths,
        excludes,
        state_dir,
        output,
        interval: interval.unwrap_or(DEFAULT_INTERVAL),
        once: args.once || file.once.unwrap_or(false),
        once_timeout: once_timeout.unwrap_or(DEFAULT_ONCE_TIMEOUT),
        from_end: args.from_end || file.from_end.unwrap_or(false),
        format: format.unwrap_or(Format::Raw),
        host,
        fields,
        max_line_bytes: max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES),
        fsync: !(args.no_fsync || file.no_fsync.unwrap_or(false)),
        stats_file: args
            .stats_file
            .as_deref()
            .map(path_from_arg)
            .or(file.stats_file),
        verbose: args.verbose || file.verbose.unwrap_or(false),
        config_file,
    };
    crate::reserved::check(&settings)?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileValues, Error> {
        parse_reader(text.as_bytes(), "/etc/lc.conf", Path::new("/etc"))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        for bad in [
            "0",
            "0ms",
            "",
            "ms",
            "1.5s",
            "-1",
            "2h",
            "61m",
            "1 s",
            "5d",
            "99999999999999999999",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        for bad in ["0", "", "x", "2G", "1T", "-5", "18446744073709551617"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
        }
        let too_large = "too large: the maximum is 1073741824 (1 GiB)";
        assert_eq!(parse_size("99999999999999999999"), Err(too_large.into()));
        assert_eq!(parse_size("1025M"), Err(too_large.into()));
        assert_eq!(
            parse_size("x"),
            Err("expected a positive number of bytes".into())
        );
    }

    #[test]
    fn config_file_keys_comments_and_relative_paths() {
        let v = parse(
            "# comment\n\n  path = logs/a.log\npath=/var/log/*.log\r\ninterval = 1s\n\
             once = true\nfrom-end = false\nformat = json\nmax-line-bytes = 64K\n\
             no-fsync = true\nstate-dir = state\noutput = |cat >/dev/null\nverbose = false\n",
        )
        .unwrap();
        assert_eq!(
            v.paths,
            [
                PathBuf::from("/etc/logs/a.log"),
                PathBuf::from("/var/log/*.log")
            ]
        );
        assert_eq!(v.interval, Some(("1s".into(), "/etc/lc.conf:5".into())));
        assert_eq!(v.once, Some(true));
        assert_eq!(v.from_end, Some(false));
        assert_eq!(v.no_fsync, Some(true));
        assert_eq!(v.state_dir.unwrap().0, PathBuf::from("/etc/state"));
        assert_eq!(v.output.unwrap().0, OsString::from("|cat >/dev/null"));
    }

    #[test]
    fn excludes_repeat_and_the_command_line_replaces_them() {
        let file =
            parse("path = a.log\nexclude = old/*.log\nexclude = **/*.1\nexclude = /x/*\n").unwrap();
        assert_eq!(
            file.excludes,
            [
                PathBuf::from("/etc/old/*.log"),
                PathBuf::from("**/*.1"),
                PathBuf::from("/x/*")
            ]
        );
        let args = Args {
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        let s = merge(&args, file, None).unwrap();
        assert_eq!(s.excludes.len(), 3);
        let file = parse("path = a.log\nexclude = old/*.log\n").unwrap();
        let args = Args {
            exclude: vec!["*.2".into()],
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        assert_eq!(
            merge(&args, file, None).unwrap().excludes,
            [PathBuf::from("*.2")]
        );
        let args = Args {
            paths: vec!["a.log".into()],
            exclude: vec!["".into()],
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        let e = merge(&args, FileValues::default(), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid value '' for --exclude: empty"),
            "{e}"
        );
    }

    #[test]
    fn config_errors_name_file_and_line() {
        let cases = [
            (
                "path = a\nbogus = 1\n",
                "/etc/lc.conf:2: unknown key `bogus`",
            ),
            ("\n\njust words\n", "/etc/lc.conf:3: expected `key = value`"),
            ("once = yes\n", "/etc/lc.conf:1: `once` takes true or false"),
            ("interval =\n", "/etc/lc.conf:1: `interval` has no value"),
            (
                "once = true\npath = a\npath = b\nonce = false\n",
                "/etc/lc.conf:4: `once` is already set at /etc/lc.conf:1: give it once \
                 (only `path`, `exclude` and `field` may repeat)",
            ),
            ("exclude =\n", "/etc/lc.conf:1: `exclude` has no value"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let file = parse("path = a.log\ninterval = 5s\nformat = json\nonce = true\n").unwrap();
        let args = Args {
            paths: vec!["b.log".into()],
            interval: Some("100ms".into()),
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        let s = merge(&args, file, None).unwrap();
        assert_eq!(s.paths, [PathBuf::from("b.log")]);
        assert_eq!(s.interval, Duration::from_millis(100));
        assert_eq!(s.format, Format::Json);
        assert!(s.once);
        assert!(s.fsync);
        assert_eq!(s.max_line_bytes, DEFAULT_MAX_LINE_BYTES);
    }

    #[test]
    fn once_timeout_comes_from_the_file_or_the_command_line() {
        let args = Args {
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        let s = merge(&args, parse("path = a.log\n").unwrap(), None).unwrap();
        assert_eq!(s.once_timeout, DEFAULT_ONCE_TIMEOUT);
        let file = parse("path = a.log\nonce-timeout = 5s\n").unwrap();
        let s = merge(&args, file, None).unwrap();
        assert_eq!(s.once_timeout, Duration::from_secs(5));
        let args = Args {
            once_timeout: Some("0".into()),
            ..args
        };
        let e = merge(&args, parse("path = a.log\n").unwrap(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value '0' for --once-timeout: must be between 1ms and 1h"
        );
    }

    #[test]
    fn bad_values_name_their_source() {
        let file = parse("path = a.log\ninterval = 0\n").unwrap();
        let args = Args {
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        let e = merge(&args, file, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/lc.conf:2: invalid value '0' for `interval`: must be between 1ms and 1h"
        );
        let args = Args {
            paths: vec!["a".into()],
            format: Some("xml".into()),
            state_dir: Some("/tmp/s".into()),
            ..Args::default()
        };
        let e = merge(&args, FileValues::default(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value 'xml' for --format: expected raw or json"
        );
        let e = merge(&Args::default(), FileValues::default(), None).unwrap_err();
        assert!(e.to_string().starts_with("no PATH given"));
    }

    fn json_args(fields: &[&str]) -> Args {
        Args {
            paths: vec!["a.log".into()],
            format: Some("json".into()),
            state_dir: Some("/tmp/s".into()),
            field: fields.iter().map(|f| f.to_string()).collect(),
            ..Args::default()
        }
    }

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fields_and_host_from_the_file_and_the_command_line() {
        let text = "path = a.log\nformat = json\nhost = web-1\nfield = env=prod\n\
                    field = service = api gateway \nfield=url=http://x/?a=b\nfield = empty=\n";
        let s = merge(&json_args(&[]), parse(text).unwrap(), None).unwrap();
        assert_eq!(s.host, "web-1");
        let want = [
            ("env", "prod"),
            ("service", "api gateway"),
            ("url", "http://x/?a=b"),
            ("empty", ""),
        ];
        assert_eq!(s.fields, pairs(&want));
        // The command line's fields replace the file's, its host wins.
        let args = Args {
            host: Some("h1".into()),
            ..json_args(&["team=core", "env=dev"])
        };
        let s = merge(&args, parse(text).unwrap(), None).unwrap();
        assert_eq!(s.host, "h1");
        assert_eq!(s.fields, pairs(&[("team", "core"), ("env", "dev")]));
    }

    #[test]
    fn bad_fields_name_the_value_and_why() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["envprod"],
                "invalid value 'envprod' for --field: expected KEY=VALUE",
            ),
            (
                &["=prod"],
                "invalid value '=prod' for --field: the key is empty: expected KEY=VALUE",
            ),
            (
                &[" =prod"],
                "invalid value ' =prod' for --field: the key is empty: expected KEY=VALUE",
            ),
            (
                &["a=1", "b=2", "a=3"],
                "invalid value 'a=3' for --field: the key `a` is given twice",
            ),
            (
                &["path=/x"],
                "invalid value 'path=/x' for --field: `path` is a key the collector sets \
                 itself (time, host, path, offset, line): pick another",
            ),
            (
                &["host=h"],
                "invalid value 'host=h' for --field: `host` is a key the collector sets \
                 itself (time, host, path, offset, line): pick another, or set the host \
                 with --host",
            ),
            (
                &["a\nb"],
                "invalid value 'a\\nb' for --field: expected KEY=VALUE",
            ),
        ];
        for key in RESERVED_KEYS {
            let arg = format!("{key}=v");
            let e = merge(&json_args(&[&arg]), FileValues::default(), None).unwrap_err();
            assert!(e.to_string().contains("a key the collector sets"), "{e}");
        }
        for (fields, want) in cases {
            let e = merge(&json_args(fields), FileValues::default(), None).unwrap_err();
            assert_eq!(e.to_string(), *want);
            assert_eq!(e.exit_code(), crate::error::ExitCode::Usage);
        }
        let not_text = crate::cli::encode_arg(OsString::from_vec(b"k=\xff".to_vec()));
        let e = merge(&json_args(&[&not_text]), FileValues::default(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value 'k=\\xff' for --field: not valid UTF-8"
        );
    }

    #[test]
    fn bad_field_lines_name_file_and_line() {
        let cases = [
            (
                "path = a\nfield = a=1\nfield = a=2\n",
                "/etc/lc.conf:3: invalid value 'a=2' for `field`: the key `a` is already \
                 given at /etc/lc.conf:2",
            ),
            (
                "path = a\nfield = nothing\n",
                "/etc/lc.conf:2: invalid value 'nothing' for `field`: expected KEY=VALUE",
            ),
            (
                "path = a\nfield = offset=3\n",
                "/etc/lc.conf:2: invalid value 'offset=3' for `field`: `offset` is a key the \
                 collector sets itself (time, host, path, offset, line): pick another",
            ),
        ];
        for (text, want) in cases {
            let e = merge(&json_args(&[]), parse(text).unwrap(), None).unwrap_err();
            assert_eq!(e.to_string(), want);
            assert_eq!(e.exit_code(), crate::error::ExitCode::Usage);
        }
        assert_eq!(
            parse("host = a\nhost = b\n").unwrap_err().to_string(),
            "/etc/lc.conf:2: `host` is already set at /etc/lc.conf:1: give it once \
             (only `path`, `exclude` and `field` may repeat)"
        );
    }

    #[test]
    fn the_host_is_given_or_the_node_name() {
        let node = || Ok(b"node-7".to_vec());
        let host = |cli: Option<&str>, json| {
            pick_host(&cli.map(String::from), None, json, node).map_err(|e| e.to_string())
        };
        assert_eq!(host(None, true), Ok("node-7".into()));
        // raw does not use it, and does not read it.
        let unread = || -> io::Result<Vec<u8>> { panic!("read for raw") };
        assert_eq!(pick_host(&None, None, false, unread).unwrap(), "");
        assert_eq!(host(Some(" h1 "), true), Ok("h1".into()));
        assert_eq!(host(Some("h1"), false), Ok("h1".into()));
        let file = Some(("web".to_string(), "/etc/lc.conf:4".to_string()));
        assert_eq!(pick_host(&None, file.clone(), true, node).unwrap(), "web");
        assert_eq!(pick_host(&Some("h".into()), file, true, node).unwrap(), "h");
        assert_eq!(
            host(Some(""), true),
            Err("invalid value '' for --host: empty".into())
        );
        assert_eq!(
            host(Some("  "), true),
            Err("invalid value '  ' for --host: empty".into())
        );
        let failing = || Err(io::Error::from_raw_os_error(libc::EFAULT));
        let e = pick_host(&None, None, true, failing).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "cannot read this machine's host name (uname: Bad address (os error 14)): \
                 give one with --host NAME or `host =` in the config file"
            ),
            "{e}"
        );
        let e = pick_host(&None, None, true, || Ok(Vec::new())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "this machine's host name is empty: give one with --host NAME or `host =` in \
             the config file"
        );
        // Not UTF-8 in the kernel's name: replaced, as in any json string.
        let odd = pick_host(&None, None, true, || Ok(b"n\xffde".to_vec())).unwrap();
        assert_eq!(odd, "n\u{FFFD}de");
    }

    #[test]
    fn the_default_host_is_the_node_name() {
        let s = merge(&json_args(&[]), FileValues::default(), None).unwrap();
        let node = node_name().unwrap();
        assert_eq!(s.host.as_bytes(), node.as_slice());
        if let Ok(kernel) = fs::read("/proc/sys/kernel/hostname") {
            assert_eq!(s.host.as_bytes(), trim(&kernel));
        }
    }

    #[test]
    fn raw_warns_about_what_only_json_uses() {
        let raw = |args: Args| {
            let args = Args {
                format: Some("raw".into()),
                ..args
            };
            merge(&args, FileValues::default(), None).unwrap()
        };
        assert!(raw(json_args(&["env=prod"])).unused_with_raw().is_some());
        let with_host = Args {
            host: Some("h".into()),
            ..json_args(&[])
        };
        assert!(raw(with_host).unused_with_raw().is_some());
        assert_eq!(raw(json_args(&[])).unused_with_raw(), None);
        let json = merge(&json_args(&["env=prod"]), FileValues::default(), None).unwrap();
        assert_eq!(json.unused_with_raw(), None);
    }

    #[test]
    fn who_may_change_a_config_file_that_names_a_command() {
        let writable = |mode, dir| Some(Exposure::Writable { mode, dir });
        // (owner, mode, is a directory, running as) -> what is wrong
        let cases = [
            (0, 0o644, false, 0, None),
            (0, 0o600, false, 1000, None),
            (1000, 0o640, false, 1000, None),
            (65534, 0o644, false, 0, Some(Exposure::Owner(65534))),
            (1001, 0o600, false, 1000, Some(Exposure::Owner(1001))),
            (0, 0o666, false, 0, writable(0o666, false)),
            (0, 0o664, false, 0, writable(0o664, false)),
            (0, 0o646, false, 0, writable(0o646, false)),
            // The sticky bit protects entries of a directory only.
            (0, 0o1666, false, 0, writable(0o1666, false)),
            (0, 0o755, true, 0, None),
            (0, 0o1777, true, 1000, None),
            (1000, 0o1777, true, 1000, None),
            (0, 0o777, true, 0, writable(0o777, true)),
            (0, 0o775, true, 0, writable(0o775, true)),
            (65534, 0o1777, true, 0, Some(Exposure::Owner(65534))),
        ];
        for (uid, mode, dir, me, want) in cases {
            assert_eq!(
                exposure(uid, mode, dir, me),
                want,
                "uid {uid} mode {mode:o} dir {dir} me {me}"
            );
        }
        let p = Path::new("/etc/lc.conf");
        assert_eq!(
            Exposure::Owner(65534).describe("it", p, 0),
            "it is owned by uid 65534: chown root /etc/lc.conf"
        );
        assert_eq!(
            writable(0o777, true).unwrap().describe(
                "the directory /d above it",
                Path::new("/d"),
                0
            ),
            "the directory /d above it is writable by group or others (mode 0777, not sticky): \
             chmod go-w /d"
        );
    }

    #[test]
    fn state_dir_defaults() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            default_state_dir(
                env(&[("STATE_DIRECTORY", "/var/lib/lc:/x"), ("HOME", "/h")]),
                false
            ),
            PathBuf::from("/var/lib/lc")
        );
        assert_eq!(
            default_state_dir(env(&[("HOME", "/h")]), true),
            PathBuf::from("/var/lib/log-collector")
        );
        assert_eq!(
            default_state_dir(env(&[("HOME", "/h"), ("XDG_STATE_HOME", "/xdg")]), false),
            PathBuf::from("/xdg/log-collector")
        );
        assert_eq!(
            default_state_dir(env(&[("HOME", "/h"), ("XDG_STATE_HOME", "rel")]), false),
            PathBuf::from("/h/.local/state/log-collector")
        );
    }
}
