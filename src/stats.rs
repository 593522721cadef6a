//! Counters since start-up, and their Prometheus text exposition for
//! `--stats-file` (read by node_exporter's textfile collector, so the agent
//! needs no HTTP server). Rendering is pure; the file is replaced atomically.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Plain counters; the collector updates them from what each step returned.
#[derive(Debug, Default)]
pub struct Stats {
    pub lines: u64,
    pub bytes: u64,
    pub rotations: u64,
    pub truncations: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    /// Lines and bytes of log delivered, per followed path. Never shrinks,
    /// so a counter never goes back. Kept only while a stats file is
    /// written (`per_path_wanted`): with thousands of paths it is most of a
    /// megabyte that nothing else reads.
    pub per_path: BTreeMap<PathBuf, (u64, u64)>,
    pub per_path_wanted: bool,
    /// When a checkpoint was last saved.
    pub last_checkpoint: Option<SystemTime>,
}

impl Stats {
    /// Counts `lines` lines and `bytes` bytes of log delivered from `path`.
    pub fn delivered(&mut self, path: &Path, lines: u64, bytes: u64) {
        if lines == 0 && bytes == 0 || !self.per_path_wanted {
            return;
        }
        match self.per_path.get_mut(path) {
            Some((l, b)) => {
                *l += lines;
                *b += bytes;
            }
            None => {
                self.per_path.insert(path.to_path_buf(), (lines, bytes));
            }
        }
    }
}

/// What the stats file shows besides the counters: gauges of the moment.
#[derive(Debug, Default)]
pub struct Gauges {
    pub files_watched: u64,
    /// Bytes written to each path's files and not yet delivered.
    pub lag: BTreeMap<PathBuf, u64>,
}

/// Renders the Prometheus text exposition format (no timestamps).
pub fn render(s: &Stats, g: &Gauges) -> String {
    let mut text = String::new();
    family(
        &mut text,
        "log_collector_lines_total",
        "counter",
        "Lines delivered, per followed path.",
    );
    for (path, (lines, _)) in &s.per_path {
        text.push_str(&format!(
            "log_collector_lines_total{{path=\"{}\"}} {lines}\n",
            label(path)
        ));
    }
    family(
        &mut text,
        "log_collector_bytes_total",
        "counter",
        "Bytes of log delivered, per followed path.",
    );
    for (path, (_, bytes)) in &s.per_path {
        text.push_str(&format!(
            "log_collector_bytes_total{{path=\"{}\"}} {bytes}\n",
            label(path)
        ));
    }
    family(
        &mut text,
        "log_collector_lag_bytes",
        "gauge",
        "Bytes written to a path's files and not yet delivered.",
    );
    for (path, lag) in &g.lag {
        text.push_str(&format!(
            "log_collector_lag_bytes{{path=\"{}\"}} {lag}\n",
            label(path)
        ));
    }
    let plain: [(&str, &str, &str, u64); 5] = [
        (
            "log_collector_files_watched",
            "gauge",
            "Files being followed.",
            g.files_watched,
        ),
        (
            "log_collector_rotations_total",
            "counter",
            "Rotations seen (renamed away, deleted, replaced).",
            s.rotations,
        ),
        (
            "log_collector_truncations_total",
            "counter",
            "Files truncated in place and read again from 0.",
            s.truncations,
        ),
        (
            "log_collector_read_errors_total",
            "counter",
            "Failed reads of log files.",
            s.read_errors,
        ),
        (
            "log_collector_write_errors_total",
            "counter",
            "Failed writes to the output.",
            s.write_errors,
        ),
    ];
    for (name, kind, help, value) in plain {
        family(&mut text, name, kind, help);
        text.push_str(&format!("{name} {value}\n"));
    }
    let name = "log_collector_last_checkpoint_timestamp_seconds";
    family(
        &mut text,
        name,
        "gauge",
        "Unix time of the last saved checkpoint (0: none yet).",
    );
    let at = s
        .last_checkpoint
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    text.push_str(&format!("{name} {at:.3}\n"));
    text
}

/// The HELP and TYPE lines that open a metric family.
fn family(text: &mut String, name: &str, kind: &str, help: &str) {
    text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
}

/// A label value: backslash, double quote and newline escaped, as the format
/// asks; bytes that are not UTF-8 become U+FFFD.
fn label(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Replaces `path` with `text` atomically: a temporary file beside it,
/// created exclusively and never through a symlink (another user who can
/// write the directory cannot make it write elsewhere), renamed over `path`.
/// The temporary file is removed when anything fails.
pub fn write_file(path: &Path, text: &str) -> io::Result<()> {
    let (tmp, mut f) = create_temp(path)?;
    let written = f.write_all(text.as_bytes());
    drop(f);
    let replaced = written.and_then(|()| fs::rename(&tmp, path));
    if replaced.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    replaced
}

/// A new file beside `path`, named `.NAME.PID.N.NANOS.tmp`: hidden, so
/// that no `*` pattern follows it, and not ending in `.prom`, so that
/// node_exporter does not read it half written. O_CREAT|O_EXCL|O_NOFOLLOW:
/// whatever is at the name already, file or symlink, is left alone and
/// another name tried.
fn create_temp(path: &Path) -> io::Result<(PathBuf, fs::File)> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);

    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the stats file path names no file",
        ));
    };
    // Room for the suffix within NAME_MAX (255).
    let name = &name.as_bytes()[..name.len().min(160)];
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut file = b".".to_vec();
        file.extend_from_slice(name);
        file.extend_from_slice(format!(".{}.{n}.{nanos}.tmp", std::process::id()).as_bytes());
        let tmp = dir.join(OsStr::from_bytes(&file));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temp_file_is_new_and_never_reached_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.prom");
        fs::write(dir.path().join("victim"), b"keep").unwrap();
        std::os::unix::fs::symlink(dir.path().join("victim"), dir.path().join("m.prom.tmp"))
            .unwrap();
        write_file(&path, "one\n").unwrap();
        write_file(&path, "two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(fs::read(dir.path().join("victim")).unwrap(), b"keep");
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["m.prom", "m.prom.tmp", "victim"]);
        // A failed rename takes its temp file with it.
        fs::create_dir(dir.path().join("d.prom")).unwrap();
        assert!(write_file(&dir.path().join("d.prom"), "x\n").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn per_path_counters_are_kept_only_when_wanted() {
        let mut s = Stats::default();
        s.delivered(Path::new("/a.log"), 3, 30);
        assert!(s.per_path.is_empty());
        s.per_path_wanted = true;
        s.delivered(Path::new("/a.log"), 3, 30);
        assert_eq!(s.per_path[Path::new("/a.log")], (3, 30));
    }

    #[test]
    fn exposition_has_help_type_and_escaped_labels() {
        let mut s = Stats {
            per_path_wanted: true,
            ..Stats::default()
        };
        s.delivered(Path::new("/var/log/a \"b\"\\c\n.log"), 3, 30);
        s.delivered(Path::new("/var/log/a \"b\"\\c\n.log"), 1, 10);
        s.rotations = 2;
        let g = Gauges {
            files_watched: 1,
            lag: [(PathBuf::from("/x.log"), 7)].into_iter().collect(),
        };
        let text = render(&s, &g);
        assert!(text.contains("# HELP log_collector_lines_total "));
        assert!(text.contains("# TYPE log_collector_lines_total counter\n"));
        assert!(text
            .contains("log_collector_lines_total{path=\"/var/log/a \\\"b\\\"\\\\c\\n.log\"} 4\n"));
        assert!(text
            .contains("log_collector_bytes_total{path=\"/var/log/a \\\"b\\\"\\\\c\\n.log\"} 40\n"));
        assert!(text.contains("log_collector_lag_bytes{path=\"/x.log\"} 7\n"));
        assert!(text.contains("log_collector_files_watched 1\n"));
        assert!(text.contains("log_collector_rotations_total 2\n"));
        assert!(text.contains("log_collector_last_checkpoint_timestamp_seconds 0.000\n"));
        // Every sample line belongs to a family announced before it.
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{name} has no TYPE line");
            }
        }
    }
}
