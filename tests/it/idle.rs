//! Idle files that have settled (nothing left to do, the same stat cycle
//! after cycle) are looked at through the fast path: each change that
//! matters must still take them out of it.

use std::fs;

use crate::util::*;

/// Waits until the collector's files have settled: each one let go (its
/// descriptor is closed two quiet intervals after its last growth), as its
/// stats line tells, then two more cycles: a file is settled at the look
/// after one that found it closed with nothing left to do.
fn settle(d: &Daemon) {
    let let_go = wait_until("every file let go", || {
        d.wait_cycles(1);
        let stderr = d.stderr();
        let last = stderr.lines().rev().find(|l| l.contains("stats:"))?;
        last.contains("(0 open)").then_some(())
    });
    assert!(
        let_go.is_some(),
        "timed out waiting for every file to be let go (a stats line with \"(0 open)\")\nstderr:\n{}",
        d.stderr()
    );
    d.wait_cycles(2);
}

#[test]
fn a_second_name_for_a_settled_file_repeats_nothing() {
    let s = Scenario::new();
    fs::create_dir(s.path("d")).unwrap();
    s.append("d/b.log", &numbered("b", 1, 3));
    s.append("d/c.log", &numbered("c", 1, 2));
    let d = s.spawn(&["-i", "10ms", "d/*.log"]);
    let mut want = [numbered("b", 1, 3), numbered("c", 1, 2)].concat();
    d.wait_stdout_eq(&want);
    settle(&d);
    // A hard link sorted before it: the same file, now reached first there.
    fs::hard_link(s.path("d/b.log"), s.path("d/a.log")).unwrap();
    s.append("d/c.log", b"c-3\n");
    want.extend_from_slice(b"c-3\n");
    d.wait_stdout_eq(&want);
    s.append("d/b.log", b"b-4\n");
    want.extend_from_slice(b"b-4\n");
    d.wait_stdout_eq(&want);
    fs::remove_file(s.path("d/b.log")).unwrap();
    s.append("d/a.log", b"b-5\n");
    want.extend_from_slice(b"b-5\n");
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn settled_files_in_a_directory_replaced_by_another_are_drained_then_the_new_ones_read() {
    let s = Scenario::new();
    fs::create_dir(s.path("d")).unwrap();
    for name in ["a", "b", "c"] {
        s.append(&format!("d/{name}.log"), &numbered(name, 1, 2));
    }
    let d = s.spawn(&["-i", "10ms", "d/*.log"]);
    let mut want: Vec<u8> = ["a", "b", "c"]
        .iter()
        .flat_map(|n| numbered(n, 1, 2))
        .collect();
    d.wait_stdout_eq(&want);
    settle(&d);
    d.freeze();
    s.rename("d", "old");
    fs::create_dir(s.path("d")).unwrap();
    for name in ["a", "b", "c"] {
        s.append(
            &format!("d/{name}.log"),
            &numbered(&format!("new {name}"), 1, 1),
        );
    }
    d.thaw();
    for name in ["a", "b", "c"] {
        want.extend_from_slice(&numbered(&format!("new {name}"), 1, 1));
    }
    d.wait_stdout_eq(&want);
    d.stop_ok();
}

#[test]
fn a_settled_file_that_grows_after_many_idle_cycles_is_read_and_nothing_else_is() {
    let s = Scenario::new();
    fs::create_dir(s.path("d")).unwrap();
    let mut want = Vec::new();
    for i in 0..200 {
        let name = format!("f{i:03}");
        s.append(&format!("d/{name}.log"), &numbered(&name, 1, 1));
        want.extend_from_slice(&numbered(&name, 1, 1));
    }
    let d = s.spawn(&["-i", "10ms", "d/*.log"]);
    d.wait_stdout_eq(&want);
    settle(&d);
    for i in [150, 3, 77] {
        let name = format!("f{i:03}");
        s.append(&format!("d/{name}.log"), format!("{name}-2\n").as_bytes());
        want.extend_from_slice(format!("{name}-2\n").as_bytes());
        d.wait_stdout_eq(&want);
    }
    // Truncated to nothing and written again shorter: read from the start.
    s.truncate("d/f010.log");
    s.append("d/f010.log", b"x\n");
    want.extend_from_slice(b"x\n");
    d.wait_stdout_eq(&want);
    d.stop_ok();
}
