//! The command line and the config file: help and version, usage errors
//! (exit 2, first stderr line naming the option and value or `file:line`),
//! which source wins, and where state lives by default.

use std::fs;

use crate::util::*;

/// The first stderr line of a run that must fail as a usage error.
fn usage_error(r: &Run) -> String {
    assert_eq!(r.code(), 2, "stderr:\n{}", r.stderr);
    assert_eq!(r.stdout, b"", "usage errors print nothing to stdout");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    r.stderr.lines().next().unwrap_or_default().to_string()
}

fn assert_names(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{line:?} does not name {part:?}");
    }
}

/// A scenario with `etc/lc.conf` holding `config`.
fn with_config(config: &str) -> Scenario {
    let s = Scenario::new();
    fs::create_dir(s.path("etc")).unwrap();
    s.write("etc/lc.conf", config.as_bytes());
    s
}

#[test]
fn help_exits_0_with_usage_and_examples_on_stdout() {
    let s = Scenario::new();
    let r = s.run(&["--help"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let out = r.stdout_str();
    assert!(out.starts_with("Usage: log-collector"), "{out}");
    assert!(out.contains("Examples:"), "{out}");
    assert!(out.contains("--max-line-bytes"), "{out}");
    assert_eq!(r.stderr, "");
}

#[test]
fn version_prints_name_and_version() {
    let s = Scenario::new();
    let want = format!("log-collector {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["-V", "--version"] {
        let r = s.run(&[flag]);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        assert_eq!(r.stdout_str(), want);
    }
}

#[test]
fn unknown_flag_exits_2_naming_it() {
    let s = Scenario::new();
    let line = usage_error(&s.run(&["--bogus", "a.log"]));
    assert_names(&line, &["--bogus"]);
}

#[test]
fn option_without_its_value_exits_2_naming_it() {
    let s = Scenario::new();
    let line = usage_error(&s.run(&["a.log", "-i"]));
    assert_names(&line, &["-i"]);
}

#[test]
fn bad_interval_values_exit_2_naming_option_and_value() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    for bad in ["0", "2h", "abc", "1.5s", "-5"] {
        let line = usage_error(&s.once(&["--interval", bad, "a.log"]));
        assert_names(&line, &["--interval", &format!("'{bad}'")]);
    }
    assert_eq!(s.once(&["a.log"]).stdout, b"x\n", "nothing was consumed");
}

#[test]
fn bad_format_exits_2_naming_option_and_value() {
    let s = Scenario::new();
    let line = usage_error(&s.once(&["--format", "xml", "a.log"]));
    assert_names(&line, &["--format", "'xml'"]);
}

#[test]
fn zero_max_line_bytes_exits_2_naming_option_and_value() {
    let s = Scenario::new();
    let line = usage_error(&s.once(&["--max-line-bytes", "0", "a.log"]));
    assert_names(&line, &["--max-line-bytes", "'0'"]);
}

#[test]
fn no_path_at_all_exits_2() {
    let s = Scenario::new();
    let line = usage_error(&s.once(&[]));
    assert_names(&line, &["PATH"]);
    // A config file without `path =` is the same mistake.
    let s = with_config("format = raw\n");
    let line = usage_error(&s.once(&["-c", "etc/lc.conf"]));
    assert_names(&line, &["PATH"]);
}

#[test]
fn config_file_keys_comments_and_repeated_paths_work() {
    let s = with_config(
        "# a comment\n\
         \x20  # an indented comment\n\
         \n\
         path = a.log\n\
         path = sub/b.log\n\
         format = json\n\
         max-line-bytes = 4\n\
         interval = 20ms\n\
         from-end = false\n\
         no-fsync = true\n\
         verbose = false\n\
         once = true\n",
    );
    fs::create_dir(s.path("etc/sub")).unwrap();
    s.write("etc/a.log", b"abcdef\n");
    s.write("etc/sub/b.log", b"xy\n");
    // Decoys where the paths would point if taken relative to the cwd.
    s.write("a.log", b"decoy\n");
    fs::create_dir(s.path("sub")).unwrap();
    s.write("sub/b.log", b"decoy\n");
    // No --once here: `once = true` in the file has to end the run.
    let r = s.run(&["-c", "etc/lc.conf"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let text = r.stdout_str();
    let mut got: Vec<(String, u64, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["path"].as_str().unwrap().to_string(),
                v["offset"].as_u64().unwrap(),
                v["line"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("etc/a.log", 0, "abcd"),
        ("etc/a.log", 4, "ef"),
        ("etc/sub/b.log", 0, "xy"),
    ];
    let want: Vec<(String, u64, String)> = want
        .iter()
        .map(|&(p, o, l)| (p.to_string(), o, l.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn config_output_and_state_dir_are_relative_to_the_config_dir() {
    let s = with_config("path = a.log\noutput = out.txt\nstate-dir = st\n");
    s.write("etc/a.log", b"line\n");
    let mut cmd = s.bare_command(&["--once", "-c", "etc/lc.conf"]);
    cmd.env_remove("STATE_DIRECTORY")
        .env("XDG_STATE_HOME", s.path("xdg"));
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"");
    assert_eq!(s.read("etc/out.txt"), b"line\n");
    assert!(s.path("etc/st/checkpoints").is_file(), "{}", r.stderr);
}

#[test]
fn command_line_paths_replace_the_config_files_paths() {
    let s = with_config("path = a.log\n");
    s.write("etc/a.log", b"from config\n");
    s.write("b.log", b"from command line\n");
    let r = s.once(&["-c", "etc/lc.conf", "b.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"from command line\n");
}

#[test]
fn command_line_format_beats_the_config_files() {
    let s = with_config("path = a.log\nformat = json\n");
    s.write("etc/a.log", b"raw line\n");
    let r = s.once(&["-c", "etc/lc.conf", "--format", "raw"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"raw line\n");
}

#[test]
fn unknown_config_key_exits_2_naming_file_and_line() {
    let s = with_config("path = a.log\n# comment\nbogus = 1\n");
    let line = usage_error(&s.once(&["-c", "etc/lc.conf"]));
    assert_names(&line, &["etc/lc.conf:3", "bogus"]);
}

#[test]
fn malformed_config_line_exits_2_naming_file_and_line() {
    let s = with_config("path = a.log\njust some words\n");
    let line = usage_error(&s.once(&["-c", "etc/lc.conf"]));
    assert_names(&line, &["etc/lc.conf:2"]);
}

#[test]
fn bad_value_in_config_file_exits_2_naming_file_and_line() {
    let s = with_config("path = a.log\ninterval = 0\n");
    let line = usage_error(&s.once(&["-c", "etc/lc.conf"]));
    assert_names(&line, &["etc/lc.conf:2", "interval", "'0'"]);
}

#[test]
fn missing_config_file_exits_2_naming_it() {
    let s = Scenario::new();
    let line = usage_error(&s.once(&["-c", "nowhere.conf"]));
    assert_names(&line, &["nowhere.conf"]);
}

#[test]
fn state_directory_from_the_environment_is_the_default_state_dir() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    let dir = s.path("systemd-state");
    let mut cmd = s.bare_command(&["--once", "a.log"]);
    cmd.env("STATE_DIRECTORY", &dir)
        .env("XDG_STATE_HOME", s.path("xdg"));
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"x\n");
    assert!(dir.join("checkpoints").is_file(), "{}", r.stderr);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("checkpoints")), 0o600);
}

#[test]
fn state_dir_is_created_0700_and_checkpoint_file_0600() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    let state = s.path("new-state");
    let mut cmd = s.bare_command(&["--once", "a.log", "--state-dir"]);
    cmd.arg(&state);
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("checkpoints")), 0o600);
}

/// The user root runs the collector as where a test is about other users.
pub(crate) const NOBODY: libc::uid_t = 65534;

/// The collector command, run as `NOBODY` when the test runs as root, from
/// a copy of the binary in the scenario's dir (the build tree may be out of
/// that user's reach), with the scenario's dir opened to it. `None`, after
/// saying why, where that user cannot run it.
pub(crate) fn as_other_user(s: &Scenario, args: &[&str]) -> Option<std::process::Command> {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(s.bare_command(args));
    }
    fs::set_permissions(s.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let bin = s.path("log-collector");
    // Copied once a scenario: a second copy over a running one would fail.
    if !bin.exists() {
        fs::copy(env!("CARGO_BIN_EXE_log-collector"), &bin).expect("copy the binary");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let command = |args: &[&str]| {
        let mut cmd = program(bin.to_str().unwrap());
        cmd.current_dir(s.dir.path())
            .args(args)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "0");
        // SAFETY: between fork and exec only setgroups, setgid and setuid,
        // which are async-signal-safe, and an io::Error from errno.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(NOBODY) != 0
                    || libc::setuid(NOBODY) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    };
    // A copy just written can be "busy" for a moment: a process forked by
    // another test thread meanwhile holds its descriptor until it execs.
    let mut probe = command(&["--version"]).output();
    for _ in 0..100 {
        match &probe {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                probe = command(&["--version"]).output();
            }
            _ => break,
        }
    }
    match probe {
        Ok(out) if out.status.success() => Some(command(args)),
        Ok(out) => {
            skip(&format!(
                "the collector does not run as uid {NOBODY}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            None
        }
        Err(e) => {
            skip(&format!("cannot run the collector as uid {NOBODY}: {e}"));
            None
        }
    }
}

#[test]
fn xdg_state_home_is_the_default_state_dir_for_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    fs::set_permissions(s.path("a.log"), fs::Permissions::from_mode(0o644)).unwrap();
    let xdg = s.path("xdg");
    fs::create_dir(&xdg).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&xdg, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let Some(mut cmd) = as_other_user(&s, &["--once", "a.log"]) else {
        return;
    };
    cmd.env_remove("STATE_DIRECTORY")
        .env("XDG_STATE_HOME", &xdg);
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        s.path("xdg/log-collector/checkpoints").is_file(),
        "{}",
        r.stderr
    );
}
