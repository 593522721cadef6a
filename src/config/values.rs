//! The value parsers: durations, sizes, the format, the host, static
//! fields and the output. Each refuses a bad value with a message that
//! says what is wrong. The host, the fields and the output, each with a
//! rule of its own, are also picked here from the command line or the file.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::MAX_MAX_LINE_BYTES;
use crate::cli::path_from_arg;
use crate::error::{escape, Error};
use crate::settings::{Format, OutputSpec, RESERVED_KEYS};

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

pub(super) fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "raw" => Ok(Format::Raw),
        "json" => Ok(Format::Json),
        _ => Err("expected raw or json".into()),
    }
}

/// `--host` or `host =`, trimmed and not empty; without either, for json,
/// the machine's node name from `node`.
pub(super) fn pick_host(
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
pub(super) fn node_name() -> io::Result<Vec<u8>> {
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
pub(super) fn pick_fields(
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

/// `--output`, else `output =`, else stdout; neither an empty command nor
/// an empty path.
pub(super) fn pick_output(
    cli: &Option<String>,
    file: Option<(OsString, String)>,
) -> Result<OutputSpec, Error> {
    let output = match (cli, file) {
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
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
