//! The config file reader: `key = value` lines to `FileValues`, each value
//! kept as text with its `file:line` until the merge parses it, so that a
//! bad one is reported where it was written.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::trust;
use crate::error::{show, Error};

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
/// the file's directory. A file that names a command, and any file read by a
/// collector running as root, must be safe from other users (see `trust`).
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
    let command_at = values
        .output
        .as_ref()
        .filter(|(output, _)| output.as_encoded_bytes().starts_with(b"|"))
        .map(|(_, location)| location.as_str());
    trust::check(path, &meta, command_at)?;
    Ok(values)
}

/// Parses config file contents. `name` is used in error locations (`name:line`),
/// `base` is the directory relative paths are joined to.
pub fn parse_reader(bytes: &[u8], name: &str, base: &Path) -> Result<FileValues, Error> {
    let mut values = FileValues::default();
    let mut set_at: Vec<(String, String)> = Vec::new();
    // A byte order mark, as some editors write one, is not part of the key.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
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
        given_once(key, &location, &mut set_at).map_err(err)?;
        let value = trim(&line[eq + 1..]);
        if value.is_empty() {
            return Err(err(format!("`{key}` has no value")));
        }
        // No switch, number, duration or format holds a `#`: a comment
        // after the value was meant (paths and commands may hold one).
        let plain = !matches!(
            key,
            "path" | "exclude" | "output" | "state-dir" | "stats-file" | "field" | "host"
        );
        if plain && value.contains(&b'#') {
            return Err(err(format!(
                "the value of `{key}` has a `#` in it; a comment goes on a line of its own, \
                 starting with `#`"
            )));
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

/// Records where `key` was set, in `set_at`; Err when a key that holds one
/// value was set before: the second value would silently win over the first.
fn given_once(key: &str, location: &str, set_at: &mut Vec<(String, String)>) -> Result<(), String> {
    if matches!(key, "path" | "field" | "exclude") {
        return Ok(());
    }
    if let Some((_, first)) = set_at.iter().find(|(k, _)| k == key) {
        return Err(format!(
            "`{key}` is already set at {first}: give it once (only `path`, \
             `exclude` and `field` may repeat)"
        ));
    }
    set_at.push((key.to_string(), location.to_string()));
    Ok(())
}

/// `s` without ASCII blanks at either end.
pub(super) fn trim(mut s: &[u8]) -> &[u8] {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileValues, Error> {
        parse_reader(text.as_bytes(), "/etc/lc.conf", Path::new("/etc"))
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
}
