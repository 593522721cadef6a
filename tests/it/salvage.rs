//! An output that fails part way: what it took before failing counts as
//! delivered, so each attempt makes progress and nothing is repeated.

use std::fs;

use crate::util::*;

#[test]
fn command_that_reads_one_line_and_exits_gets_each_line_once_in_order() {
    let s = Scenario::new();
    let all = numbered("line", 1, 3);
    s.write("a.log", &all);
    let d = s.spawn(&[
        "-i",
        "20ms",
        "-o",
        "|read -r l; echo \"$l\" >> sink",
        "a.log",
    ]);
    wait_file(&s.path("sink"), "three lines", |b| line_count(b) >= 3);
    // More cycles and restarts add nothing.
    d.wait_cycles(3);
    // Before the stop: a command still waiting for a line then reads EOF and
    // appends an empty one.
    assert_same_bytes(&s.read("sink"), &all, "sink");
    d.stop_ok();
}

#[test]
fn command_that_reads_one_line_and_exits_gets_each_json_line_and_piece_once() {
    // Lines cut into pieces, one ending right before its newline.
    let input = b"ab\nabcdefgh\nabcdefghij\nxy\n";
    let args = ["--format", "json", "--max-line-bytes", "4"];
    let reference = Scenario::new();
    reference.write("a.log", input);
    let want = reference.once(&[&args[..], &["a.log"]].concat()).stdout;
    assert_eq!(line_count(&want), 7);
    let s = Scenario::new();
    s.write("a.log", input);
    let command = "|read -r l; printf '%s\\n' \"$l\" >> sink";
    let d = s.spawn(&[&args[..], &["-i", "20ms", "-o", command, "a.log"]].concat());
    wait_file(&s.path("sink"), "seven lines", |b| line_count(b) >= 7);
    d.wait_cycles(3);
    // Read at other times than the reference's lines: all else is the same.
    assert_same_bytes(
        &without_times(&s.read("sink")),
        &without_times(&want),
        "sink",
    );
    d.stop_ok();
}

/// Lines of exactly `LINE` bytes, numbered from 1 to `n`.
fn fixed_lines(n: usize) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i:06} {}\n", "x".repeat(LINE - 8)).into_bytes())
        .collect()
}

const LINE: usize = 100;

/// A file output on a tmpfs with `FREE` bytes left and a backlog of
/// `lines` lines: the whole lines that fit go out and stay, and once space
/// is freed the rest follows, every line once. With `log_on_disk` the log
/// is on the same tmpfs, where a large raw backlog is copied in the kernel.
fn full_disk(lines: usize, log_on_disk: bool) {
    const FREE: usize = 128 << 10;
    let s = Scenario::new();
    let disk = s.path("disk");
    let all = fixed_lines(lines);
    // What the log takes on the tmpfs, in whole pages.
    let log_bytes = if log_on_disk {
        all.len().next_multiple_of(4096)
    } else {
        0
    };
    let size = (all.len() + log_bytes + (256 << 10)).next_multiple_of(4096);
    let Some(_mount) = small_tmpfs(&disk, &format!("size={}k", size >> 10)) else {
        return; // skipped, as small_tmpfs said
    };
    let log = if log_on_disk {
        disk.join("a.log")
    } else {
        s.path("a.log")
    };
    fs::write(&log, &all).expect("log");
    fs::write(disk.join("filler"), vec![0u8; size - log_bytes - FREE]).expect("filler");
    let out = disk.join("out.txt");
    let d = s.spawn(&[
        "-i",
        "20ms",
        "-o",
        out.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    d.wait_stderr("cannot write to output file");
    // What fits is kept: a prefix of whole lines, short of the free space by
    // less than one line.
    let kept = wait_file(&out, "the whole lines that fit", |b| {
        b.len() + LINE > FREE && b.ends_with(b"\n") && all.starts_with(b)
    });
    assert!(kept.len() <= FREE, "{} bytes with {FREE} free", kept.len());
    // They are confirmed: further attempts do not take them back.
    d.wait_cycles(2);
    let now = wait_file(&out, "the kept lines", |b| b.len() >= kept.len());
    assert!(now.starts_with(&kept) && all.starts_with(&now));
    // Space comes back: the rest arrives, every line once.
    fs::remove_file(disk.join("filler")).expect("remove filler");
    wait_file_eq(&out, &all);
    d.wait_stderr("works again");
    d.stop_ok();
    assert_same_bytes(&fs::read(&out).unwrap(), &all, "output");
}

#[test]
fn output_file_on_a_full_disk_takes_whole_lines_that_fit_then_the_rest_once_space_is_freed() {
    // 240 KB, written from the read buffer.
    full_disk(2400, false);
}

#[test]
fn output_file_on_a_full_disk_fed_by_kernel_copies_takes_whole_lines_that_fit() {
    // 2 MB on the same filesystem, copied in the kernel.
    full_disk(20_000, true);
}
