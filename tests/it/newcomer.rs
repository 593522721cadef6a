//! What a first-time user trips on: messages that name the real problem
//! and its fix, `-h` and a file named `help`, a repeated config key, a
//! pattern that matches nothing, `--help`, the man page and the README
//! telling the same story, and `make run` twice in a row.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::cli::{as_other_user, NOBODY};
use crate::util::*;

fn first_line(r: &Run) -> String {
    r.stderr.lines().next().unwrap_or_default().to_string()
}

/// The first stderr line of a usage error (exit 2, nothing on stdout).
fn usage_error(r: &Run) -> String {
    assert_eq!(r.code(), 2, "stderr:\n{}", r.stderr);
    assert_eq!(r.stdout, b"", "usage errors print nothing to stdout");
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    first_line(r)
}

#[test]
fn state_dir_that_is_a_file_says_so_and_what_to_do() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    s.write("not-a-dir", b"some file\n");
    let r = Daemon::start(s.bare_command(&["--once", "a.log", "-s", "not-a-dir"])).wait_exit();
    // Like every other unusable state dir: a runtime failure.
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert_eq!(r.stdout, b"");
    let line = first_line(&r);
    assert!(line.contains("not-a-dir"), "{line}");
    assert!(line.contains("is a file, not a directory"), "{line}");
    assert!(!r.stderr.contains("File exists"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: "), "says what to do: {}", r.stderr);
    assert_eq!(s.read("not-a-dir"), b"some file\n", "left alone");
}

#[test]
fn empty_output_is_a_usage_error() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    let line = usage_error(&s.once(&["-o", "", "a.log"]));
    assert!(line.contains("--output"), "{line}");
    assert!(line.contains("''"), "{line}");
}

#[test]
fn overflowing_max_line_bytes_says_too_large_and_names_the_maximum() {
    let s = Scenario::new();
    s.write("a.log", b"x\n");
    for big in ["99999999999999999999", "2G", "1025M"] {
        let line = usage_error(&s.once(&["--max-line-bytes", big, "a.log"]));
        assert!(line.contains("--max-line-bytes"), "{line}");
        assert!(line.contains(&format!("'{big}'")), "{line}");
        assert!(line.contains("too large"), "{line}");
        assert!(line.contains("1073741824 (1 GiB)"), "{line}");
    }
    // The maximum itself is fine.
    let r = s.once(&["--max-line-bytes", "1G", "a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
}

#[test]
fn dash_h_is_help() {
    let s = Scenario::new();
    let long = s.run(&["--help"]);
    let short = s.run(&["-h"]);
    assert_eq!(short.code(), 0, "{}", short.stderr);
    assert_eq!(short.stdout, long.stdout);
    assert!(short.stdout_str().starts_with("Usage: log-collector"));
    assert!(short.stdout_str().contains("-h, --help"));
}

#[test]
fn a_file_named_help_is_followed_like_any_other() {
    let s = Scenario::new();
    s.write("help", b"a line in a file named help\n");
    let r = s.once(&["help"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"a line in a file named help\n");
    // Among other arguments too.
    s.append("help", b"two\n");
    let r = s.once(&["-i", "10ms", "help", "--format", "raw"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"two\n");
}

#[test]
fn repeated_config_key_is_a_usage_error_naming_both_lines() {
    let s = Scenario::new();
    fs::create_dir(s.path("etc")).unwrap();
    s.write(
        "etc/lc.conf",
        b"path = a.log\ninterval = 1s\n# a comment\npath = b.log\ninterval = 2s\n",
    );
    let line = usage_error(&s.once(&["-c", "etc/lc.conf"]));
    assert!(line.contains(": etc/lc.conf:5: "), "{line}");
    assert!(line.contains("interval"), "{line}");
    assert!(line.contains("etc/lc.conf:2"), "{line}");
    // `path =` may repeat; a switch may not.
    s.write("etc/a.log", b"a\n");
    s.write("etc/b.log", b"b\n");
    s.write("etc/lc.conf", b"path = a.log\npath = b.log\n");
    let r = s.once(&["-c", "etc/lc.conf"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"a\nb\n");
    s.write("etc/lc.conf", b"path = a.log\nonce = true\nonce = false\n");
    let line = usage_error(&s.once(&["-c", "etc/lc.conf"]));
    assert!(line.contains(": etc/lc.conf:3: "), "{line}");
    assert!(line.contains("etc/lc.conf:2"), "{line}");
}

#[test]
fn unreadable_checkpoint_hint_is_about_permissions_not_moving_it_away() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    fs::set_permissions(s.path("a.log"), fs::Permissions::from_mode(0o644)).unwrap();
    let state = s.path("st");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).unwrap();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let args = ["--once", "-s", "st", "a.log"];
    let Some(cmd) = as_other_user(&s, &args) else {
        return;
    };
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\n");
    let cp = state.join("checkpoints");
    // Its owner's, but unreadable (one owned by another user is refused
    // before it is read: see service.rs).
    fs::set_permissions(&cp, fs::Permissions::from_mode(0o000)).unwrap();
    let r = Daemon::start(as_other_user(&s, &args).unwrap()).wait_exit();
    assert_eq!(r.code(), 1, "{}", r.stderr);
    assert_eq!(r.stdout, b"");
    let line = first_line(&r);
    assert!(line.contains("checkpoint file st/checkpoints"), "{line}");
    assert!(line.contains("ermission denied"), "{line}");
    let hint = r.stderr.lines().nth(1).unwrap_or_default();
    assert!(hint.contains("permissions"), "{}", r.stderr);
    assert!(hint.contains("ownership"), "{}", r.stderr);
    assert!(!hint.contains("to start over"), "{}", r.stderr);
}

#[test]
fn pattern_matching_nothing_is_logged_once_and_again_when_it_stops_matching() {
    let s = Scenario::new();
    fs::create_dir(s.path("logs")).unwrap();
    let d = s.spawn(&["-i", "20ms", "logs/*.log"]);
    let said = "logs/*.log matches no file (yet); watching for it";
    d.wait_stderr(said);
    // Idle cycles say nothing more.
    d.wait_cycles(3);
    assert_eq!(d.stderr().matches(said).count(), 1, "{}", d.stderr());
    s.write("logs/a.log", b"hello\n");
    d.wait_stdout_eq(b"hello\n");
    d.wait_cycles(1);
    assert_eq!(d.stderr().matches(said).count(), 1, "{}", d.stderr());
    s.remove("logs/a.log");
    d.wait_stderr_count(said, 2);
    d.wait_cycles(3);
    assert_eq!(d.stderr().matches(said).count(), 2, "{}", d.stderr());
    d.stop_ok();
}

#[test]
fn start_up_line_counts_paths_and_the_files_they_match() {
    let s = Scenario::new();
    fs::create_dir(s.path("logs")).unwrap();
    for name in ["a.log", "b.log", "c.log"] {
        s.write(&format!("logs/{name}"), b"x\n");
    }
    let r = s.once(&["logs/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("following 1 PATH (3 files), writing to stdout"),
        "{}",
        r.stderr
    );
    let r = s.once(&["logs/a.log", "logs/*.log"]);
    assert!(
        r.stderr.contains("following 2 PATHs (3 files)"),
        "{}",
        r.stderr
    );
}

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The long options `--help` lists, without the leading dashes.
fn long_options_in_help() -> Vec<String> {
    let s = Scenario::new();
    let help = s.run(&["--help"]).stdout_str();
    let options = help
        .split_once("\nOptions:\n")
        .expect("an Options section")
        .1;
    let options = options.split("\n\n").next().unwrap();
    let names: Vec<String> = options
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        .map(|w| w.trim_start_matches('-').trim_end_matches(',').to_string())
        .collect();
    assert!(names.len() > 10, "{help}");
    names
}

/// The keys `config::parse_reader` accepts, read from its source: one
/// `"key" =>` arm each.
fn keys_in_config_parser() -> Vec<String> {
    let src = repo_file("src/config/file.rs");
    let body = src
        .split_once("pub fn parse_reader(")
        .expect("parse_reader")
        .1;
    let body = body.split("\nfn ").next().unwrap();
    let keys: Vec<String> = body
        .lines()
        .filter_map(|l| {
            let key = l.trim().strip_prefix('"')?.split_once("\" =>")?.0;
            Some(key.to_string())
        })
        .collect();
    assert!(keys.contains(&"path".to_string()), "{keys:?}");
    keys
}

#[test]
fn every_long_option_in_help_is_in_the_man_page_and_the_readme() {
    let man = repo_file("man/log-collector.1");
    let readme = repo_file("README.md");
    let table = readme
        .split_once("\n## Usage\n")
        .expect("a Usage section")
        .1
        .split("\n## ")
        .next()
        .unwrap();
    for name in long_options_in_help() {
        let in_man = format!("\\-\\-{}", name.replace('-', "\\-"));
        assert!(man.contains(&in_man), "the man page lacks --{name}");
        assert!(
            table.contains(&format!("--{name}")),
            "the README's option table lacks --{name}"
        );
    }
    // The short forms too.
    for short in ["c", "s", "o", "i", "v", "V", "h"] {
        assert!(
            man.contains(&format!("\\-{short}\\fR")) || man.contains(&format!("\\-{short} ")),
            "the man page lacks -{short}"
        );
        assert!(
            table.contains(&format!("`-{short},")),
            "the README lacks -{short}"
        );
    }
}

#[test]
fn config_keys_are_the_long_options_and_all_in_the_readme() {
    let keys = keys_in_config_parser();
    let options = long_options_in_help();
    let not_in_file = ["config", "version", "help"];
    for key in &keys {
        assert!(
            key == "path" || options.contains(key),
            "config key `{key}` is not a long option"
        );
    }
    for option in &options {
        assert!(
            not_in_file.contains(&option.as_str()) || keys.contains(option),
            "--{option} cannot be set in the config file"
        );
    }
    let readme = repo_file("README.md");
    let list = readme
        .split_once("keys are the long option names (")
        .expect("the README's list of config keys")
        .1;
    let list = list.split_once(')').unwrap().0;
    for key in &keys {
        assert!(
            list.contains(&format!("`{key}`")),
            "the README's list of config keys lacks `{key}`: {list}"
        );
    }
}

/// Kills a process group when dropped: `make run` leaves a generator and a
/// collector behind it if a test fails half-way.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill with a process group this test created.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}

/// `make run` in the scenario's dir with the binaries just built, as its own
/// process group (as a terminal's Ctrl-C reaches it).
fn make_run(s: &Scenario) -> (Daemon, Group) {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_log-collector"))
        .parent()
        .unwrap();
    let mut cmd = std::process::Command::new("make");
    cmd.current_dir(s.dir.path())
        .arg("-f")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile"))
        // Started from `make test`, make would announce the directory it
        // enters on stdout (MAKELEVEL is inherited).
        .arg("--no-print-directory")
        .arg("run")
        .arg("CARGO=true")
        .arg(format!("RELEASE={}", bin_dir.display()))
        .env_remove("RUST_LOG")
        .env_remove("STATE_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .process_group(0);
    let d = Daemon::start(cmd);
    let group = Group(d.pid());
    (d, group)
}

fn interrupt(d: Daemon, group: &Group) -> Run {
    // SAFETY: kill with a process group this test created.
    unsafe { libc::kill(-group.0, libc::SIGINT) };
    d.wait_exit()
}

#[test]
fn make_run_starts_with_sample_lines_and_a_second_run_says_why_they_are_not_shown() {
    if std::env::var_os("LOG_COLLECTOR_TEST_RUNNER").is_some() {
        skip("make run starts the binaries without the test runner");
        return;
    }
    match std::process::Command::new("make").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => {
            skip("no make");
            return;
        }
    }
    let s = Scenario::new();
    fs::create_dir(s.path("sample_logs")).unwrap();
    let app = repo_file("sample_logs/app.log");
    s.write("sample_logs/app.log", app.as_bytes());
    s.write("sample_logs/nginx-access.log", b"an nginx line\n");

    let (d, group) = make_run(&s);
    let out = d.wait_stdout("the sample lines", |out| {
        String::from_utf8_lossy(out).contains("an nginx line\n")
    });
    let out = String::from_utf8_lossy(&out).into_owned();
    let first = out.lines().next().unwrap();
    assert!(
        app.lines().any(|l| l == first),
        "stdout starts with {first:?}, not a sample line"
    );
    d.wait_stderr("following 1 PATH (");
    let r = interrupt(d, &group);
    assert!(!r.stderr.contains("state kept"), "{}", r.stderr);

    let (d, group) = make_run(&s);
    d.wait_stderr("state kept in target/run-state: lines already delivered are not shown again");
    d.wait_stderr("make clean-run");
    d.wait_stderr("following 1 PATH");
    let r = interrupt(d, &group);
    let out = r.stdout_str();
    assert!(!out.contains("an nginx line"), "shown again: {out}");
}
