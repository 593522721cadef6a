//! From the command line and the optional config file to one `Settings`.
//!
//! The config file has `key = value` lines whose keys are the long option
//! names; `#` starts a comment line; `path =` and `exclude =` may repeat.
//! Values given on the command line win over the file, and PATHs (excludes)
//! on the command line replace the file's `path =` (`exclude =`) lines. Defaults are filled in only here, once all input has
//! been read, which is what keeps "the command line wins" correct.
//!
//! `file` reads a config file, `trust` decides whether one may name a
//! command, `values` parses and checks each value; this module merges the
//! command line over the file into `Settings`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{path_from_arg, Args};
use crate::error::{show, Error};
use crate::settings::{Format, Settings};

mod file;
mod trust;
mod values;

pub use file::{parse_file, parse_reader, FileValues};
pub use values::{parse_duration, parse_size};

use values::{node_name, parse_format, pick_fields, pick_host, pick_output};

/// Default poll interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(250);
/// Default for how long `--once` retries a failing output.
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default longest line delivered whole.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;
/// Upper bound for `--max-line-bytes`: the splitter holds one such line in memory.
pub const MAX_MAX_LINE_BYTES: usize = 1 << 30;

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
    // With several bad values, the first in this order is the one reported.
    let (paths, excludes) = pick_paths(args, file.paths, file.excludes)?;
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
    let output = pick_output(&args.output, file.output)?;
    let state_dir = pick_state_dir(&args.state_dir, file.state_dir)?;

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

/// The command line's value, else the file's, parsed; None when neither
/// gives one. A bad value names the option when it came from the command
/// line, and `file:line` when it came from the config file.
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

/// The PATHs and excludes: those of the command line replace the file's.
/// There must be a PATH, and none of either may be empty.
fn pick_paths(
    args: &Args,
    file_paths: Vec<PathBuf>,
    file_excludes: Vec<PathBuf>,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Error> {
    let paths: Vec<PathBuf> = if args.paths.is_empty() {
        file_paths
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
        file_excludes
    } else {
        args.exclude.iter().map(|p| path_from_arg(p)).collect()
    };
    if excludes.iter().any(|p| p.as_os_str().is_empty()) {
        return Err(Error::usage(
            "invalid value '' for --exclude: empty (give a pattern such as '**/*.1')",
        ));
    }
    Ok((paths, excludes))
}

/// `--state-dir`, else `state-dir =`, else where the environment says.
fn pick_state_dir(cli: &Option<String>, file: Option<(PathBuf, String)>) -> Result<PathBuf, Error> {
    let state_dir = match (cli, file) {
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
    Ok(state_dir)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::file::trim;
    use super::*;
    use crate::settings::RESERVED_KEYS;

    fn parse(text: &str) -> Result<FileValues, Error> {
        parse_reader(text.as_bytes(), "/etc/lc.conf", Path::new("/etc"))
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
