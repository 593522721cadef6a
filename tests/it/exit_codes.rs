//! Exit statuses that tell the truth: a `--once` run (or a stopped daemon)
//! whose checkpoint could not be saved, whose output command failed, whose
//! stdout was closed, or that a signal cut short while the output took
//! nothing, exits 1 with one error line saying why.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::util::*;

/// Fills the filesystem of `dir` up to its last byte with `dir/filler`.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("filler");
    let block = vec![0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    while f.write(&[0u8]).is_ok_and(|n| n == 1) {}
    path
}

#[test]
fn once_whose_checkpoint_cannot_be_saved_exits_1_naming_the_checkpoint() {
    let s = Scenario::new();
    let all = numbered("line", 1, 50);
    s.write("a.log", &all);
    let Some(_mount) = small_tmpfs(&s.state, "size=64k,mode=0700") else {
        return; // skipped, as small_tmpfs said
    };
    let filler = fill(&s.state);
    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    let checkpoint = s.checkpoint_path();
    assert!(
        line.contains("cannot save checkpoint") && line.contains(checkpoint.to_str().unwrap()),
        "the error names the checkpoint file: {line:?}\n{}",
        r.stderr
    );
    assert_eq!(r.stdout, all, "the lines went out");
    // Nothing was saved: the next run, with room again, sends them again.
    fs::remove_file(filler).expect("remove filler");
    let again = s.once(&["a.log"]);
    assert_eq!(again.code(), 0, "{}", again.stderr);
    assert_eq!(again.stdout, all, "at-least-once: the lines come again");
}

#[test]
fn daemon_stopped_while_its_checkpoint_cannot_be_saved_exits_1() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    wait_file_eq(&s.path("out.txt"), b"one\n");
    block_checkpoint_saves(&s);
    s.append("a.log", b"two\n");
    d.wait_stderr("cannot save checkpoint");
    wait_file_eq(&s.path("out.txt"), b"one\ntwo\n");
    let r = d.stop();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(
        line.contains("cannot save checkpoint")
            && line.contains(s.checkpoint_path().to_str().unwrap()),
        "the error names the checkpoint file: {line:?}\n{}",
        r.stderr
    );
    // Once saves work again, a stop is a success again.
    fs::remove_dir(s.state.join("checkpoints.tmp")).unwrap();
    let d = s.spawn(&["-i", "20ms", "-o", "out.txt", "a.log"]);
    d.wait_stderr("found 1 file");
    d.wait_cycles(1);
    d.stop_ok();
}

#[test]
fn once_whose_command_exits_non_zero_exits_1_naming_the_command_and_status() {
    let s = Scenario::new();
    s.write("a.log", &numbered("line", 1, 20));
    let command = "cat >/dev/null; exit 1";
    let r = s.once(&["-o", &format!("|{command}"), "a.log"]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(
        line.contains(&format!("`{command}`")) && line.contains("exited with status 1"),
        "the error names the command and its status: {line:?}\n{}",
        r.stderr
    );
    // A command that fails on every write: it may exit before or after it
    // confirmed reading the lines, the run fails either way.
    if Path::new("/dev/full").exists() {
        let s = Scenario::new();
        s.write("a.log", &numbered("line", 1, 20));
        let r = s.once(&["-o", "|cat > /dev/full", "a.log"]);
        assert_eq!(r.code(), 1, "{}", r.stderr);
        assert!(
            error_line(&r.stderr).contains("`cat > /dev/full`"),
            "{}",
            r.stderr
        );
    }
    // The daemon: the status is a warning at shutdown, the stop a success.
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let d = s.spawn(&["-i", "20ms", "-o", &format!("|{command}"), "a.log"]);
    d.wait_stderr("found 1 file");
    d.wait_cycles(1);
    let r = d.stop_ok();
    assert!(
        r.stderr
            .contains(&format!("`{command}` exited with status 1")),
        "{}",
        r.stderr
    );
}

#[test]
fn once_with_stdout_closed_exits_1_and_keeps_the_lines_due() {
    let s = Scenario::new();
    let all = numbered("line", 1, 10);
    s.write("a.log", &all);
    let mut cmd = s.command(&["--once", "a.log"]);
    // SAFETY: close only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(line.contains("stdout"), "the error names stdout: {line:?}");
    let again = s.once(&["a.log"]);
    assert_eq!(again.code(), 0, "{}", again.stderr);
    assert_eq!(again.stdout, all, "the checkpoint did not advance");
    // stdout on /dev/null as a shell redirects it is open, not closed.
    let mut cmd = s.command(&["--once", "a.log"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let status = cmd.status().expect("run");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn once_giving_up_on_a_stalled_command_names_the_timeout_and_starts_no_other() {
    let s = Scenario::new();
    s.write("a.log", &a_few_mib());
    let r = s.once(&[
        "--once-timeout",
        "1500ms",
        "-o",
        "|echo started >> starts; exec sleep 30",
        "a.log",
    ]);
    assert_eq!(r.code(), 1, "{}", r.stderr);
    let line = error_line(&r.stderr);
    assert!(
        line.contains("gave up") && line.contains("after 1500ms (--once-timeout)"),
        "the error names the timeout given: {line:?}\n{}",
        r.stderr
    );
    // Giving up is the end of the run: no command is started for nothing.
    assert_eq!(s.read("starts"), b"started\n", "{}", r.stderr);
}

#[test]
fn sigint_while_once_waits_on_a_command_that_does_not_read_says_interrupted() {
    let s = Scenario::new();
    s.write("a.log", &a_few_mib());
    let d = s.spawn(&["--once", "-o", "|exec sleep 30", "a.log"]);
    // The command is started after the signal handlers are in place: only
    // then may USR1 come (its default action ends the process).
    let children = format!("/proc/{0}/task/{0}/children", d.pid());
    let started = wait_until("the command started", || {
        let text = fs::read_to_string(&children).ok()?;
        (!text.trim().is_empty()).then_some(())
    });
    assert!(started.is_some(), "no command started:\n{}", d.stderr());
    let blocked = wait_until("the write blocks", || {
        d.signal(libc::SIGUSR1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        d.stderr().contains("not taking data").then_some(())
    });
    assert!(blocked.is_some(), "never blocked:\n{}", d.stderr());
    d.signal(libc::SIGINT);
    let r = d.wait_exit();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert!(
        error_line(&r.stderr).contains("stopped by a signal before --once was done"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("log-collector: hint: "),
        "the hint comes last:\n{}",
        r.stderr
    );
}
