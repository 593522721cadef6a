//! What reaches the output, byte for byte: complete lines only, in order,
//! once; raw bytes untouched; json fields; long lines in pieces; `--from-end`;
//! patterns, duplicates and PATHs that are not regular files.

use std::os::unix::fs::symlink;

use crate::util::*;

/// Deterministic bytes without a newline that never repeat with a short
/// period, so a repeated or skipped piece cannot go unnoticed.
fn long_line(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b'!' + (x % 94) as u8
        })
        .collect()
}

/// `line` cut into pieces of `n` bytes, each ended with a newline, as the
/// collector should print it.
fn pieces(line: &[u8], n: usize) -> Vec<u8> {
    line.chunks(n)
        .flat_map(|p| p.iter().copied().chain([b'\n']))
        .collect()
}

fn json_values(stdout: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(stdout).expect("json output is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

#[test]
fn appended_lines_follow_earlier_ones_in_order() {
    let s = Scenario::new();
    s.append("a.log", &numbered("a", 1, 3));
    assert_eq!(s.once(&["a.log"]).stdout, numbered("a", 1, 3));
    s.append("a.log", &numbered("a", 4, 4));
    s.append("a.log", &numbered("a", 5, 9));
    assert_eq!(s.once(&["a.log"]).stdout, numbered("a", 4, 9));
}

#[test]
fn partial_line_is_held_back_across_restarts_until_its_newline() {
    let s = Scenario::new();
    s.append("a.log", b"one\npa");
    assert_eq!(s.once(&["a.log"]).stdout, b"one\n");
    s.append("a.log", b"rt");
    assert_eq!(s.once(&["a.log"]).stdout, b"", "still no newline");
    s.append("a.log", b"ial\n");
    assert_eq!(s.once(&["a.log"]).stdout, b"partial\n");
}

#[test]
fn partial_line_is_not_emitted_early_while_running() {
    let s = Scenario::new();
    s.append("a.log", b"");
    s.append("marker.log", b"");
    let d = s.spawn(&["-i", "20ms", "a.log", "marker.log"]);
    s.append("a.log", b"x\npart");
    // The cycle that delivers the marker looked at a.log after `part` was
    // written (a.log is read first), so an early `part` would show up before it.
    s.append("marker.log", b"mark\n");
    d.wait_stdout_eq(b"x\nmark\n");
    s.append("a.log", b"ial\n");
    d.wait_stdout_eq(b"x\nmark\npartial\n");
    assert_eq!(d.stop().code(), 0);
}

#[test]
fn empty_lines_are_kept() {
    let s = Scenario::new();
    s.append("a.log", b"\n\na\n\n");
    assert_eq!(s.once(&["a.log"]).stdout, b"\n\na\n\n");
    s.append("a.log", b"\n");
    assert_eq!(s.once(&["a.log"]).stdout, b"\n");
}

#[test]
fn crlf_nul_and_invalid_utf8_pass_through_raw() {
    let s = Scenario::new();
    let bytes = b"crlf\r\n\0nul\0\n\xff\xfe\xc3(bad\n\r\n\x1b[31mred\n";
    s.append("a.log", bytes);
    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, bytes);
}

#[test]
fn one_line_five_byte_file_is_delivered() {
    let s = Scenario::new();
    s.write("a.log", b"abcd\n");
    assert_eq!(s.once(&["a.log"]).stdout, b"abcd\n");
}

#[test]
fn once_twice_prints_nothing_the_second_time_and_only_new_lines_after_appends() {
    let s = Scenario::new();
    s.append("a.log", &numbered("l", 1, 100));
    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, numbered("l", 1, 100));
    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"");
    s.append("a.log", &numbered("l", 101, 102));
    assert_eq!(s.once(&["a.log"]).stdout, numbered("l", 101, 102));
    assert_eq!(s.once(&["a.log"]).stdout, b"");
}

#[test]
fn from_end_starts_an_existing_file_after_its_last_complete_line_then_resumes() {
    let s = Scenario::new();
    s.append("a.log", b"old\nolder\npart");
    let r = s.once(&["--from-end", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"", "existing lines are skipped");
    // The line being written when we started is delivered whole once finished.
    s.append("a.log", b"ial\nnew\n");
    assert_eq!(s.once(&["--from-end", "a.log"]).stdout, b"partial\nnew\n");
    s.append("a.log", b"newer\n");
    assert_eq!(
        s.once(&["--from-end", "a.log"]).stdout,
        b"newer\n",
        "with checkpoint history, --from-end resumes where it left off"
    );
}

#[test]
fn from_end_on_a_file_without_a_complete_line_delivers_that_line_once_finished() {
    let s = Scenario::new();
    s.write("a.log", b"no newline yet");
    assert_eq!(s.once(&["--from-end", "a.log"]).stdout, b"");
    s.append("a.log", b"\n");
    assert_eq!(s.once(&["--from-end", "a.log"]).stdout, b"no newline yet\n");
}

#[test]
fn from_end_reads_a_file_that_appears_later_from_its_beginning() {
    let s = Scenario::new();
    s.append("old.log", b"before\n");
    let d = s.spawn(&["-v", "--from-end", "-i", "20ms", "old.log", "new.log"]);
    // Both are decided in the first cycle: only then is new.log "later".
    d.wait_stderr("old.log from offset 7");
    d.wait_stderr("new.log");
    s.append("new.log", b"first\nsecond\n");
    d.wait_stdout_eq(b"first\nsecond\n");
    s.append("old.log", b"after\n");
    d.wait_stdout_eq(b"first\nsecond\nafter\n");
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);

    s.append("old.log", b"old-again\n");
    s.append("new.log", b"new-again\n");
    let r = s.once(&["--from-end", "old.log", "new.log"]);
    let mut lines: Vec<&[u8]> = r.stdout.split_inclusive(|&b| b == b'\n').collect();
    lines.sort();
    assert_eq!(lines, [&b"new-again\n"[..], b"old-again\n"]);
}

#[test]
fn json_lines_parse_and_offsets_point_at_each_line_in_the_source() {
    let s = Scenario::new();
    std::fs::create_dir(s.path("logs")).unwrap();
    std::fs::create_dir(s.path("other")).unwrap();
    let lines: [&[u8]; 9] = [
        b"plain\n",
        b"\n",
        b"crlf\r\n",
        b"quote \" backslash \\ tab \t bell \x07\n",
        b"bad \xff\xfe utf8 \xc3(\n",
        b"nul \0 byte\n",
        b"\xe2\x82\xac euro \xf0\x9f\x98\x80\n",
        b"\r\n",
        b"{\"already\":\"json\"}\n",
    ];
    s.write("logs/a.log", &lines.concat());
    s.write("other/b.txt", b"x\n");
    let r = s.once(&["--format", "json", "logs/a.log", "other/*.txt"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let values = json_values(&r.stdout);
    assert_eq!(values.len(), lines.len() + 1);

    let a: Vec<_> = values
        .iter()
        .filter(|v| v["path"] == "logs/a.log")
        .collect();
    assert_eq!(
        a.len(),
        lines.len(),
        "path is the PATH as given: {values:?}"
    );
    let mut offset = 0u64;
    for (v, line) in a.iter().zip(lines) {
        let text = String::from_utf8_lossy(&line[..line.len() - 1]);
        assert_eq!(v["offset"].as_u64(), Some(offset), "{v}");
        assert_eq!(v["line"].as_str(), Some(&*text), "{v}");
        offset += line.len() as u64;
    }
    let b: Vec<_> = values
        .iter()
        .filter(|v| v["path"] == "other/b.txt")
        .collect();
    assert_eq!(b.len(), 1, "a pattern's match stays relative: {values:?}");
    assert_eq!(b[0]["offset"], 0);
    assert_eq!(b[0]["line"], "x");
}

#[test]
fn json_offsets_continue_across_runs() {
    let s = Scenario::new();
    s.write("a.log", b"first\nsec");
    assert_eq!(
        json_values(&s.once(&["--format", "json", "a.log"]).stdout).len(),
        1
    );
    s.append("a.log", b"ond\nthird\n");
    let v = json_values(&s.once(&["--format", "json", "a.log"]).stdout);
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0]["offset"].as_u64(), v[0]["line"].as_str()),
        (Some(6), Some("second"))
    );
    assert_eq!(
        (v[1]["offset"].as_u64(), v[1]["line"].as_str()),
        (Some(13), Some("third"))
    );
}

#[test]
fn five_megabyte_line_comes_out_in_pieces_of_exactly_max_line_bytes() {
    let s = Scenario::new();
    let line = long_line(5 * 1024 * 1024 + 1234);
    let mut file = b"before\n".to_vec();
    file.extend_from_slice(&line);
    file.extend_from_slice(b"\nafter\n");
    s.write("a.log", &file);
    let r = s.once(&["--max-line-bytes", "65536", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);

    let out = r.stdout;
    let body = out
        .strip_prefix(b"before\n")
        .and_then(|o| o.strip_suffix(b"after\n"))
        .expect("short lines around the long one come out whole");
    let got: Vec<&[u8]> = body.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(got.len(), line.len().div_ceil(65536));
    for (i, piece) in got.iter().enumerate() {
        let want = if i + 1 < got.len() { 65536 } else { 1234 };
        assert_eq!(piece.len(), want + 1, "piece {i} with its newline");
        assert_eq!(piece.last(), Some(&b'\n'));
    }
    let joined: Vec<u8> = got
        .iter()
        .flat_map(|p| &p[..p.len() - 1])
        .copied()
        .collect();
    assert_same_bytes(&joined, &line, "pieces joined");
}

#[test]
fn line_of_exactly_max_line_bytes_is_whole_and_one_byte_more_is_two_pieces() {
    let s = Scenario::new();
    s.write("a.log", b"abcd\nabcde\nabcdefgh\nabcdefghi\n\n");
    let r = s.once(&["--max-line-bytes", "4", "a.log"]);
    assert_eq!(
        r.stdout_str(),
        "abcd\nabcd\ne\nabcd\nefgh\nabcd\nefgh\ni\n\n",
        "no empty piece after one that ends right before the newline"
    );
}

#[test]
fn json_piece_offsets_are_each_pieces_first_byte() {
    let s = Scenario::new();
    s.write("a.log", b"ab\nabcdefghij\n");
    let r = s.once(&["--format", "json", "--max-line-bytes", "4", "a.log"]);
    let got: Vec<(u64, String)> = json_values(&r.stdout)
        .iter()
        .map(|v| {
            let line = v["line"].as_str().unwrap().to_string();
            (v["offset"].as_u64().unwrap(), line)
        })
        .collect();
    let want = [(0, "ab"), (3, "abcd"), (7, "efgh"), (11, "ij")];
    let want: Vec<(u64, String)> = want.iter().map(|&(o, l)| (o, l.to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn long_line_pieces_are_neither_repeated_nor_skipped_across_a_restart() {
    let s = Scenario::new();
    let n = 65536;
    let line = long_line(300_000);
    s.write("a.log", &line[..100_000]);
    let r = s.once(&["--max-line-bytes", "65536", "a.log"]);
    // A piece goes out as soon as its bytes are there; the rest waits.
    assert_same_bytes(&r.stdout, &pieces(&line[..n], n), "first run");
    s.append("a.log", &line[100_000..]);
    s.append("a.log", b"\ntail\n");
    let r = s.once(&["--max-line-bytes", "65536", "a.log"]);
    let mut want = pieces(&line[n..], n);
    want.extend_from_slice(b"tail\n");
    assert_same_bytes(&r.stdout, &want, "second run");
}

#[test]

fn newline_right_after_a_full_piece_adds_no_empty_line_across_a_restart() {
    let s = Scenario::new();
    s.write("a.log", b"abcd");
    assert_eq!(
        s.once(&["--max-line-bytes", "4", "a.log"]).stdout,
        b"abcd\n"
    );
    // This newline only ends the line already delivered as a piece.
    s.append("a.log", b"\nnext\n");
    assert_eq!(
        s.once(&["--max-line-bytes", "4", "a.log"]).stdout_str(),
        "next\n"
    );
}

#[test]
fn pattern_picks_up_a_file_created_later() {
    let s = Scenario::new();
    s.append("a.log", b"a1\n");
    let d = s.spawn(&["-i", "20ms", "*.log"]);
    d.wait_stdout_eq(b"a1\n");
    s.append("b.log", b"b1\n");
    s.append("ignored.txt", b"not matched\n");
    d.wait_stdout_eq(b"a1\nb1\n");
    s.append("a.log", b"a2\n");
    d.wait_stdout_eq(b"a1\nb1\na2\n");
    d.stop_ok();
}

#[test]
fn pattern_never_reads_a_compressed_rotated_file() {
    let s = Scenario::new();
    s.write("app.log", b"current\n");
    // Not real gzip, but newline-rich bytes that would show if read.
    s.write("app.log.1.gz", b"\x1f\x8bcompressed\nline\n");
    s.write("app.log.2.gz", b"\x1f\x8bolder\n");
    let r = s.once(&["app.log*"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"current\n");
}

#[test]
fn same_file_named_twice_or_by_pattern_and_symlink_is_delivered_once() {
    let s = Scenario::new();
    s.write("a.log", b"one\ntwo\n");
    symlink("a.log", s.path("link.log")).unwrap();
    let r = s.once(&["a.log", "a.log", "*.log", "link.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\ntwo\n");
    s.append("a.log", b"three\n");
    let r = s.once(&["link.log", "*.log", "a.log"]);
    assert_eq!(
        r.stdout, b"three\n",
        "and resumed once, whichever name is first"
    );
}

#[test]
fn directory_fifo_and_missing_paths_are_warned_while_the_rest_is_delivered() {
    let s = Scenario::new();
    std::fs::create_dir(s.path("dir.log")).unwrap();
    s.mkfifo("fifo.log");
    s.write("good.log", b"good\n");
    let r = s.once(&["dir.log", "fifo.log", "missing.log", "good.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"good\n");
    for name in ["dir.log", "fifo.log", "missing.log"] {
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains("WARN") && l.contains(name)),
            "no warning about {name}:\n{}",
            r.stderr
        );
    }
}
