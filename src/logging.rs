//! Logging to stderr through `log` and `env_logger`. `RUST_LOG` sets the
//! filter (default `info`); `-v` raises it to debug. Under systemd, when
//! stderr is the journal, lines carry a syslog priority prefix instead of a
//! timestamp, since the journal stamps them itself.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

use log::Level;

/// Sets up the logger. Call once, before anything is logged.
pub fn init(verbose: bool) {
    let mut builder = env_logger::Builder::new();
    let filter = std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty());
    match (verbose, filter) {
        (true, _) => builder.parse_filters("debug"),
        (false, Some(f)) => builder.parse_filters(&f),
        (false, None) => builder.parse_filters("info"),
    };
    builder.target(env_logger::Target::Stderr);
    if stderr_is_journal() {
        builder.format(|buf, record| {
            let priority = match record.level() {
                Level::Error => 3,
                Level::Warn => 4,
                Level::Info => 6,
                Level::Debug | Level::Trace => 7,
            };
            writeln!(buf, "<{priority}>{}", record.args())
        });
    } else {
        builder.format(|buf, record| {
            writeln!(
                buf,
                "{} {:<5} {}",
                timestamp(SystemTime::now()),
                record.level(),
                record.args()
            )
        });
    }
    // Only fails if a logger is already set, which would be a bug in a test.
    let _ = builder.try_init();
}

/// Whether stderr is the stream systemd named in `JOURNAL_STREAM` (`dev:ino`).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let value = value.to_string_lossy();
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// `2026-11-25T10:15:30.123Z`: UTC, millisecond precision.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |s: u64, ms: u64| timestamp(UNIX_EPOCH + Duration::from_millis(s * 1000 + ms));
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_609_530, 123), "2026-11-25T12:25:30.123Z");
    }
}
