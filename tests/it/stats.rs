//! `--stats-file`: Prometheus text, replaced atomically, counting what was
//! delivered per followed path.

use crate::util::*;

#[test]
fn stats_file_counts_lines_and_bytes_per_path_and_lag() {
    let s = Scenario::new();
    s.write("a.log", b"one\ntwo\n");
    s.write("b.log", b"x\nhalf");
    let d = s.spawn(&[
        "-i",
        "20ms",
        "--stats-file",
        "metrics.prom",
        "a.log",
        "b.log",
    ]);
    let text = wait_file(&s.path("metrics.prom"), "a.log counted", |b| {
        String::from_utf8_lossy(b).contains("log_collector_lines_total{path=\"a.log\"} 2\n")
    });
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("# TYPE log_collector_lines_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("log_collector_bytes_total{path=\"a.log\"} 8\n"),
        "{text}"
    );
    assert!(
        text.contains("log_collector_lines_total{path=\"b.log\"} 1\n"),
        "{text}"
    );
    // "half" waits for its newline: 4 bytes behind.
    assert!(
        text.contains("log_collector_lag_bytes{path=\"b.log\"} 4\n"),
        "{text}"
    );
    assert!(text.contains("log_collector_files_watched 2\n"), "{text}");
    s.append("a.log", b"three\n");
    wait_file(&s.path("metrics.prom"), "a.log counted again", |b| {
        String::from_utf8_lossy(b).contains("log_collector_lines_total{path=\"a.log\"} 3\n")
    });
    d.stop_ok();
    assert!(
        !s.path("metrics.prom.tmp").exists(),
        "only the finished file is left"
    );
}

#[test]
fn once_writes_the_stats_file_before_it_exits() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let r = s.once(&["--stats-file", "m.prom", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let text = String::from_utf8(s.read("m.prom")).unwrap();
    assert!(
        text.contains("log_collector_lines_total{path=\"a.log\"} 1\n"),
        "{text}"
    );
    assert!(
        !text.contains("log_collector_last_checkpoint_timestamp_seconds 0.000"),
        "{text}"
    );
}
