//! No hang, no stray process, no false message: `--once` against an output
//! that keeps failing gives up and says so; a stop ends the whole process
//! group of a `|COMMAND`, also of one that was restarted; "works again" is
//! said only when lines got through.

use std::fs;
use std::path::Path;

use crate::util::{a_few_mib, error_line, skip, wait_until, Scenario};

/// Checks that a `--once` run against a failing output gave up with status 1
/// and an error naming `what`, and that the next run still gets the line.
fn gave_up(s: &Scenario, args: &[&str], what: &str) {
    s.write("a.log", b"one\n");
    let mut all = vec!["--once-timeout", "1s"];
    all.extend_from_slice(args);
    all.push("a.log");
    let r = s.once(&all);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(
        line.contains(what) && line.contains("gave up"),
        "the error names {what}: {line:?}\n{}",
        r.stderr
    );
    let again = s.once(&["a.log"]);
    assert_eq!(again.code(), 0, "{}", again.stderr);
    assert_eq!(again.stdout, b"one\n", "the line is still to be delivered");
}

#[test]
fn once_gives_up_on_a_device_that_is_full() {
    if !Path::new("/dev/full").exists() {
        return skip("no /dev/full");
    }
    gave_up(&Scenario::new(), &["-o", "/dev/full"], "/dev/full");
}

#[test]
fn once_gives_up_on_a_command_that_keeps_failing() {
    gave_up(&Scenario::new(), &["-o", "|false"], "`false`");
}

#[test]
fn once_gives_up_on_a_fifo_without_a_reader() {
    let s = Scenario::new();
    s.mkfifo("out.fifo");
    gave_up(&s, &["-o", "out.fifo"], "out.fifo");
}

#[test]
fn an_interrupted_once_that_retries_a_failing_command_exits_1() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["--once", "-o", "|false", "a.log"]);
    d.wait_stderr("cannot write to output command `false`");
    let r = d.stop();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(
        error_line(&r.stderr).contains("--once"),
        "the error says --once did not finish:\n{}",
        r.stderr
    );
}

#[test]
fn an_interrupted_once_waiting_for_a_fifo_reader_exits_1() {
    let s = Scenario::new();
    s.mkfifo("out.fifo");
    s.write("a.log", b"one\n");
    let d = s.spawn(&["--once", "-o", "out.fifo", "a.log"]);
    d.wait_stderr("waiting for a reader on FIFO");
    let r = d.stop();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(
        error_line(&r.stderr).contains("--once"),
        "the error says --once did not finish:\n{}",
        r.stderr
    );
}

#[test]
fn the_daemon_keeps_retrying_a_failing_command_past_the_once_timeout() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["--once-timeout", "1ms", "-o", "|false", "a.log"]);
    d.wait_stderr_count("started it again", 4);
    d.stop_ok();
}

#[test]
fn no_recovery_message_at_shutdown_while_the_output_still_fails() {
    if !Path::new("/dev/full").exists() {
        return skip("no /dev/full");
    }
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["-o", "/dev/full", "a.log"]);
    d.wait_stderr("cannot write to device /dev/full");
    let r = d.stop_ok();
    assert!(
        !r.stderr.contains("works again"),
        "nothing got through:\n{}",
        r.stderr
    );
}

/// Processes in process group `pgid` that are still running (zombies are
/// done: only their parent's wait is missing).
fn running_in_group(pgid: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name: state, ppid, pgrp.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            pids.push(pid);
        }
    }
    pids
}

/// The pids a command wrote to `name`, one a line, once there are `n`.
fn pids(s: &Scenario, name: &str, n: usize) -> Vec<i32> {
    let path = s.path(name);
    let found = wait_until(name, || {
        let text = fs::read_to_string(&path).ok()?;
        let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
        (pids.len() >= n).then_some(pids)
    });
    found.unwrap_or_else(|| panic!("the command did not write {n} pid(s) to {name}"))
}

// The commands send their stdout and stderr away: a sleeper left holding the
// collector's would keep the harness from seeing its end.

/// Ends, on drop, what is left of the process groups whose leaders' pids a
/// test's command wrote to this file: a failed test leaves no sleeper behind.
struct Groups(std::path::PathBuf);

impl Drop for Groups {
    fn drop(&mut self) {
        let text = fs::read_to_string(&self.0).unwrap_or_default();
        for pgid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            for pid in running_in_group(pgid) {
                // SAFETY: kill with a pid of a group this test's command started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn assert_group_ends(pgid: i32, what: &str) {
    let gone = wait_until(what, || running_in_group(pgid).is_empty().then_some(()));
    assert!(
        gone.is_some(),
        "{what}: still running in group {pgid}: {:?}",
        running_in_group(pgid)
    );
}

fn have_proc() -> bool {
    if Path::new("/proc/self/stat").exists() {
        return true;
    }
    skip("no /proc to look for processes in");
    false
}

#[test]
fn a_command_and_the_children_it_waits_for_end_at_shutdown() {
    if !have_proc() {
        return;
    }
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&[
        "-o",
        "|exec >/dev/null 2>&1; sleep 60 & echo $$ > sh.pid; cat >/dev/null; wait",
        "a.log",
    ]);
    let _cleanup = Groups(s.path("sh.pid"));
    let sh = pids(&s, "sh.pid", 1)[0];
    assert!(running_in_group(sh).len() >= 2, "sh and sleep run");
    let r = d.stop_ok();
    assert_group_ends(sh, &format!("after shutdown\n{}", r.stderr));
}

#[test]
fn a_command_that_reads_nothing_ends_at_shutdown() {
    if !have_proc() {
        return;
    }
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&[
        "-o",
        "|exec >/dev/null 2>&1; echo $$ > sh.pid; exec sleep 60",
        "a.log",
    ]);
    let _cleanup = Groups(s.path("sh.pid"));
    let sh = pids(&s, "sh.pid", 1)[0];
    let r = d.stop_ok();
    assert_group_ends(sh, &format!("after shutdown\n{}", r.stderr));
}

#[test]
fn a_restarted_command_leaves_no_child_behind() {
    if !have_proc() {
        return;
    }
    let s = Scenario::new();
    s.write("a.log", b"one\ntwo\n");
    // Each start leaves a sleeper in its group and exits after one read.
    let d = s.spawn(&[
        "-o",
        "|exec >/dev/null 2>&1; sleep 60 & echo $$ >> sh.pid; head -c 1 >/dev/null",
        "a.log",
    ]);
    let _cleanup = Groups(s.path("sh.pid"));
    let first = pids(&s, "sh.pid", 1)[0];
    d.wait_stderr("started it again");
    let both = pids(&s, "sh.pid", 2);
    assert_group_ends(first, "after the restart");
    let r = d.stop_ok();
    for pgid in both {
        assert_group_ends(pgid, &format!("after shutdown\n{}", r.stderr));
    }
}

#[test]
fn once_gives_up_on_a_command_that_stops_reading() {
    // `sleep` never reads its stdin: once the pipe is full, every write
    // would wait for ever.
    let s = Scenario::new();
    s.write("a.log", &a_few_mib());
    let r = s.once(&["--once-timeout", "1s", "-o", "|exec sleep 30", "a.log"]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(
        line.contains("gave up") && line.contains("sleep"),
        "the error names the command: {line:?}\n{}",
        r.stderr
    );
}

#[test]
fn once_gives_up_on_a_fifo_whose_reader_stops_reading() {
    let s = Scenario::new();
    s.mkfifo("out.fifo");
    s.write("a.log", &a_few_mib());
    // A reader that opens the FIFO and never reads from it, until told to
    // go (or for longer than a run may take).
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn({
        let fifo = s.path("out.fifo");
        move || {
            let f = fs::File::open(fifo).expect("open the FIFO for reading");
            let _ = wait.recv_timeout(std::time::Duration::from_secs(60));
            drop(f);
        }
    });
    let r = s.once(&["--once-timeout", "1s", "-o", "out.fifo", "a.log"]);
    let _ = done.send(());
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(
        line.contains("gave up") && line.contains("out.fifo"),
        "the error names the FIFO: {line:?}\n{}",
        r.stderr
    );
    reader.join().unwrap();
}

/// Issue: a `|COMMAND` was started again during shutdown and outlived the
/// collector.
///
///     seq 1 200000 >big.log; log-collector -i 50ms -o '|exec sleep 300' big.log &
///     sleep 1.5; kill -TERM $!
///
/// logged "killed by signal 15; started it again" and left a new sleeper
/// running after the exit.
#[test]
fn a_command_is_not_started_again_once_stopping_began() {
    if !have_proc() {
        return;
    }
    let s = Scenario::new();
    s.write("big.log", &a_few_mib());
    // Never reads: the collector's write waits on a full pipe when the stop comes.
    let d = s.spawn(&[
        "-i",
        "50ms",
        "-o",
        "|exec >/dev/null 2>&1; echo $$ >> sh.pid; exec sleep 300",
        "big.log",
    ]);
    let _cleanup = Groups(s.path("sh.pid"));
    let first = pids(&s, "sh.pid", 1)[0];
    // A USR1 is answered while the output blocks: then the pipe is full.
    let blocked = wait_until("the output blocks", || {
        d.signal(libc::SIGUSR1);
        d.stderr().contains("not taking data").then_some(())
    });
    assert!(blocked.is_some(), "the write never blocked\n{}", d.stderr());
    let r = d.stop();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(!r.stderr.contains("started it again"), "{}", r.stderr);
    let started = fs::read_to_string(s.path("sh.pid")).unwrap_or_default();
    assert_eq!(
        started.lines().count(),
        1,
        "one command start only\n{}",
        r.stderr
    );
    assert_group_ends(first, &format!("after shutdown\n{}", r.stderr));
}
