//! json's `time`, `host` and static fields: `--host`, `--field`, their
//! config file keys and reload, and the usage errors for bad ones.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::*;

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Milliseconds since the epoch of an RFC 3339 UTC time with milliseconds
/// (`2026-12-02T17:50:22.123Z`, nothing else accepted).
fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd.dddZ";
    let fits = b.len() == shape.len()
        && b.iter().zip(shape).all(|(&c, &want)| match want {
            b'd' => c.is_ascii_digit(),
            _ => c == want,
        });
    if !fits {
        return None;
    }
    let num = |from: usize, to: usize| s[from..to].parse::<i64>().ok();
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hh, mm, ss, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    // Days from 1970-01-01 to y-m-d (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

/// The records of a json output, parsed, each with its `time` checked to be
/// RFC 3339 UTC with milliseconds within [before, after]; and the output
/// with the times replaced by `T`.
fn records_read_within(
    out: &[u8],
    before: SystemTime,
    after: SystemTime,
) -> (Vec<serde_json::Value>, String) {
    let (before, after) = (unix_ms(before), unix_ms(after));
    let text = std::str::from_utf8(out).expect("json output is UTF-8");
    let values: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    for v in &values {
        let time = v["time"].as_str().expect("a time string");
        let at = parse_time(time).unwrap_or_else(|| panic!("not RFC 3339 UTC ms: {time:?}"));
        // A bound on correctness, not on speed: the line was read during the run.
        assert!(
            (before..=after).contains(&at),
            "{time} ({at}) is not within the run ({before}..={after})"
        );
    }
    let masked = String::from_utf8(without_times(out)).unwrap();
    (values, masked)
}

#[test]
fn the_time_parser_of_these_tests_is_right() {
    assert_eq!(parse_time("1970-01-01T00:00:00.000Z"), Some(0));
    assert_eq!(
        parse_time("2026-12-02T17:50:22.123Z"),
        Some(1_796_233_822_123)
    );
    assert_eq!(
        parse_time("2000-02-29T00:00:00.000Z"),
        Some(951_782_400_000)
    );
    for bad in [
        "2026-12-02T17:50:22.123",
        "2026-12-02T17:50:22Z",
        "2026-12-02 17:50:22.123Z",
        "2026-12-02T17:50:22.123+00:00",
        "2026-13-02T17:50:22.123Z",
    ] {
        assert_eq!(parse_time(bad), None, "{bad}");
    }
}

#[test]
fn records_carry_the_host_the_fields_and_the_read_time_in_a_fixed_order() {
    let s = Scenario::new();
    s.write("a.log", b"one\n\"quoted\" \\ back\n\nbad \xff byte\r\n");
    let before = SystemTime::now();
    let r = s.once(&[
        "--format",
        "json",
        "--host",
        "h1",
        "--field",
        "env=prod",
        "--field",
        "service=api",
        "--field",
        "q\"uote = a\tb=c",
        "a.log",
    ]);
    let after = SystemTime::now();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let (values, masked) = records_read_within(&r.stdout, before, after);
    let head = "{\"time\":\"T\",\"host\":\"h1\",\"env\":\"prod\",\"service\":\"api\",\
                \"q\\\"uote\":\"a\\tb=c\",\"path\":\"a.log\"";
    let want = format!(
        "{head},\"offset\":0,\"line\":\"one\"}}\n\
         {head},\"offset\":4,\"line\":\"\\\"quoted\\\" \\\\ back\"}}\n\
         {head},\"offset\":20,\"line\":\"\"}}\n\
         {head},\"offset\":21,\"line\":\"bad \u{FFFD} byte\\r\"}}\n"
    );
    assert_same_bytes(masked.as_bytes(), want.as_bytes(), "records");
    assert_eq!(values[1]["q\"uote"], "a\tb=c");
    // These lines came in one read, so they share its time.
    assert!(values.iter().all(|v| v["time"] == values[0]["time"]));
}

/// This machine's node name as the kernel says it, if it can be found out.
fn node_name() -> Option<String> {
    if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        return Some(name.trim().to_string());
    }
    let out = std::process::Command::new("hostname").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn the_default_host_is_the_node_name() {
    let Some(node) = node_name() else {
        skip("neither /proc/sys/kernel/hostname nor hostname(1) tells the node name");
        return;
    };
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    let r = s.once(&["--format", "json", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["host"], node.as_str());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec!["time", "host", "path", "offset", "line"];
    want.sort_unstable(); // serde_json's map is sorted
    assert_eq!(keys, want);
}

#[test]
fn bad_fields_and_hosts_are_usage_errors_of_one_line() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--field", "envprod"],
            "invalid value 'envprod' for --field: expected KEY=VALUE",
        ),
        (
            &["--field", "=prod"],
            "invalid value '=prod' for --field: the key is empty",
        ),
        (
            &["--field", "env=prod", "--field", "env=dev"],
            "invalid value 'env=dev' for --field: the key `env` is given twice",
        ),
        (
            &["--field", "time=now"],
            "invalid value 'time=now' for --field: `time` is a key the collector sets itself",
        ),
        (
            &["--field", "host=x"],
            "invalid value 'host=x' for --field: `host` is a key the collector sets itself",
        ),
        (
            &["--field", "line=x"],
            "invalid value 'line=x' for --field: `line` is a key the collector sets itself",
        ),
        (&["--host", ""], "invalid value '' for --host: empty"),
    ];
    for (args, want) in cases {
        let all = [&["--format", "json"], *args, &["a.log"]].concat();
        let r = s.once(&all);
        assert_eq!(r.code(), 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, b"", "{args:?}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {}", r.stderr);
        assert!(
            lines[0].starts_with(&format!("log-collector: {want}")),
            "{args:?}: {}",
            lines[0]
        );
    }
    // Nothing was read: a fixed run still starts at the first line.
    let r = s.once(&["--format", "json", "--field", "env=prod", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout.iter().filter(|&&b| b == b'\n').count(), 1);
}

#[test]
fn config_file_host_and_field_lines() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    s.write(
        "lc.conf",
        b"path = a.log\nformat = json\nhost = from-file\n\
          field = env = prod\nfield = url=http://h/?a=b\n",
    );
    let r = s.once(&["-c", "lc.conf"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let want = "{\"time\":\"T\",\"host\":\"from-file\",\"env\":\"prod\",\
                \"url\":\"http://h/?a=b\",\"path\":\"a.log\",\"offset\":0,\"line\":\"x\"}\n";
    assert_same_bytes(&without_times(&r.stdout), want.as_bytes(), "from the file");

    // The command line's host wins, its fields replace the file's.
    s.append("a.log", b"y\n");
    let r = s.once(&["-c", "lc.conf", "--host", "h2", "--field", "team=core"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let want = "{\"time\":\"T\",\"host\":\"h2\",\"team\":\"core\",\
                \"path\":\"a.log\",\"offset\":2,\"line\":\"y\"}\n";
    assert_same_bytes(&without_times(&r.stdout), want.as_bytes(), "over the file");

    s.write(
        "bad.conf",
        b"path = a.log\nformat = json\nfield = env=prod\nfield = env=dev\n",
    );
    let r = s.once(&["-c", "bad.conf"]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(
            "log-collector: bad.conf:4: invalid value 'env=dev' for `field`: the key `env` \
             is already given at bad.conf:3"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_reload_brings_a_new_host_and_new_fields() {
    let s = Scenario::new();
    s.write("a.log", b"");
    s.write(
        "lc.conf",
        b"path = a.log\nformat = json\nhost = before\nfield = env=prod\n",
    );
    let d = s.spawn(&["-c", "lc.conf", "-i", "20ms", "--no-fsync"]);
    s.append("a.log", b"one\n");
    d.wait_stdout("the first record", |out| line_count(out) == 1);
    s.write(
        "lc.conf",
        b"path = a.log\nformat = json\nhost = after\nfield = env=dev\nfield = zone=b\n",
    );
    d.signal(libc::SIGHUP);
    d.wait_stderr("reload: settings re-read");
    s.append("a.log", b"two\n");
    let out = d.wait_stdout("the second record", |out| line_count(out) == 2);
    d.stop_ok();
    let want = "{\"time\":\"T\",\"host\":\"before\",\"env\":\"prod\",\
                \"path\":\"a.log\",\"offset\":0,\"line\":\"one\"}\n\
                {\"time\":\"T\",\"host\":\"after\",\"env\":\"dev\",\"zone\":\"b\",\
                \"path\":\"a.log\",\"offset\":4,\"line\":\"two\"}\n";
    assert_same_bytes(&without_times(&out), want.as_bytes(), "across the reload");
}

#[test]
fn fields_with_raw_are_warned_about_and_lines_go_out_as_read() {
    let s = Scenario::new();
    s.write("a.log", b"plain \xff\n");
    let r = s.once(&["--field", "env=prod", "--host", "h1", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&r.stdout, b"plain \xff\n", "raw");
    assert!(
        r.stderr
            .contains("--host and --field (`host =`, `field =`) are used with --format json only"),
        "{}",
        r.stderr
    );
}
