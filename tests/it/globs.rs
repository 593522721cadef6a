//! Patterns with wildcards in directory components and `**`, on real
//! directory trees: files in several directories, directories that come and
//! go while running, a thousand directories, symlink loops, excludes from
//! the command line and the config file, and the warning for a pattern that
//! matches nothing.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};

use crate::cli::{as_other_user, NOBODY};
use crate::util::*;

fn mkdirs(s: &Scenario, dirs: &[&str]) {
    for d in dirs {
        fs::create_dir_all(s.path(d)).unwrap();
    }
}

/// The lines of stderr that contain `needle`.
fn stderr_lines_with(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_wildcard_directory_follows_files_in_several_directories() {
    let s = Scenario::new();
    mkdirs(&s, &["d/x", "d/y", "d/z", "d/.hidden"]);
    s.write("d/x/a.log", b"x-1\nx-2\n");
    s.write("d/y/a.log", b"y-1\n");
    s.write("d/z/b.log", b"not matched\n");
    s.write("d/.hidden/a.log", b"hidden\n");
    s.write("d/a.log", b"not below a directory\n");
    let r = s.once(&["d/*/a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&r.stdout, b"x-1\nx-2\ny-1\n", "--once output");

    let d = s.spawn(&["-i", "20ms", "d/*/a.log"]);
    s.append("d/y/a.log", b"y-2\n");
    d.wait_stdout_eq(b"y-2\n");
    s.append("d/x/a.log", b"x-3 partial");
    s.append("d/y/a.log", b"y-3\n");
    d.wait_stdout_eq(b"y-2\ny-3\n");
    s.append("d/x/a.log", b" done\n");
    d.wait_stdout_eq(b"y-2\ny-3\nx-3 partial done\n");
    d.stop_ok();
}

#[test]
fn directories_created_and_removed_while_running() {
    let s = Scenario::new();
    mkdirs(&s, &["d/old", "d/keep"]);
    s.write("d/old/a.log", b"old-1\n");
    s.write("d/keep/a.log", b"keep-1\n");
    let d = s.spawn(&["-i", "20ms", "d/*/a.log"]);
    d.wait_stdout_eq(b"keep-1\nold-1\n");

    // A new directory, with its file created right after it.
    fs::create_dir(s.path("d/new")).unwrap();
    s.write("d/new/a.log", b"new-1\n");
    d.wait_stdout_eq(b"keep-1\nold-1\nnew-1\n");
    // A file added later to a directory that is new too.
    fs::create_dir_all(s.path("d/later")).unwrap();
    d.wait_cycles(2);
    s.write("d/later/a.log", b"later-1\n");
    d.wait_stdout_eq(b"keep-1\nold-1\nnew-1\nlater-1\n");

    // A directory removed with its file: let go without complaint.
    fs::remove_dir_all(s.path("d/old")).unwrap();
    d.wait_cycles(5);
    s.append("d/keep/a.log", b"keep-2\n");
    d.wait_stdout_eq(b"keep-1\nold-1\nnew-1\nlater-1\nkeep-2\n");
    d.wait_cycles(3);
    let before = d.stderr();
    // Back with a new file under the same name: a new file, read from its start.
    fs::create_dir(s.path("d/old")).unwrap();
    s.write("d/old/a.log", b"old-again-1\n");
    d.wait_stdout_eq(b"keep-1\nold-1\nnew-1\nlater-1\nkeep-2\nold-again-1\n");
    let r = d.stop_ok();
    assert!(!r.stderr.contains("cannot read directory"), "{}", r.stderr);
    assert!(!r.stderr.contains("ERROR"), "{}", r.stderr);
    // Nothing said every cycle while the directory was gone.
    let warnings = stderr_lines_with(&before, " WARN ");
    assert!(warnings.len() <= 1, "{before}");
}

#[test]
fn a_thousand_directories_under_any_depth_each_delivered_once() {
    let s = Scenario::new();
    let mut want = Vec::new();
    for i in 0..1000 {
        // Two levels for some, one for others, and files at the top too.
        let dir = match i % 3 {
            0 => format!("d/g{:02}/s{i:04}", i / 100),
            1 => format!("d/s{i:04}"),
            _ => "d".to_string(),
        };
        fs::create_dir_all(s.path(&dir)).unwrap();
        let line = format!("file-{i:04}\n");
        s.write(&format!("{dir}/f{i:04}.log"), line.as_bytes());
        want.push(line);
    }
    let r = s.once(&["--no-fsync", "d/**/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let out = r.stdout_str();
    let mut got: Vec<String> = out.split_inclusive('\n').map(str::to_string).collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "{}", r.stderr);
    assert!(got == want, "lines differ");
    assert!(r.stderr.contains("(1000 files)"), "{}", r.stderr);
    // Again: nothing new, nothing repeated.
    let r = s.once(&["--no-fsync", "d/**/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout_str(), "");
}

#[test]
fn a_symlink_loop_under_any_depth_ends_and_each_file_comes_once() {
    let s = Scenario::new();
    mkdirs(&s, &["d/x/y"]);
    s.write("d/x/a.log", b"a\n");
    s.write("d/x/y/b.log", b"b\n");
    symlink("..", s.path("d/x/y/up")).unwrap();
    symlink("../..", s.path("d/x/y/top")).unwrap();
    symlink("x", s.path("d/alias")).unwrap();
    symlink("loop", s.path("d/loop")).unwrap();
    let r = s.once(&["d/**/*.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&r.stdout, b"a\nb\n", "--once output");
    assert!(!r.stderr.contains("WARN"), "{}", r.stderr);

    // Followed while running, the files still come once each.
    let d = s.spawn(&["-i", "20ms", "d/**/*.log"]);
    s.append("d/x/y/b.log", b"b-2\n");
    d.wait_stdout_eq(b"b-2\n");
    s.append("d/x/a.log", b"a-2\n");
    d.wait_stdout_eq(b"b-2\na-2\n");
    d.wait_cycles(2);
    let r = d.stop_ok();
    assert_same_bytes(&r.stdout, b"b-2\na-2\n", "daemon output");
}

#[test]
fn excludes_from_the_command_line_and_the_config_file() {
    let s = Scenario::new();
    mkdirs(&s, &["d/x", "d/skip/deep"]);
    for (name, line) in [
        ("d/app.log", "app\n"),
        ("d/debug.log", "debug\n"),
        ("d/x/app.log", "x app\n"),
        ("d/x/debug.log", "x debug\n"),
        ("d/skip/s.log", "skip\n"),
        ("d/skip/deep/s.log", "deep skip\n"),
    ] {
        s.write(name, line.as_bytes());
    }
    let run = |args: &[&str]| {
        // Every run starts from nothing.
        let _ = fs::remove_dir_all(&s.state);
        let r = s.once(args);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        r.stdout_str()
    };
    let out = run(&[
        "--exclude",
        "**/debug.log",
        "--exclude",
        "d/skip/**",
        "d/**/*.log",
    ]);
    assert_eq!(out, "app\nx app\n");
    // A literal PATH is excluded too.
    assert_eq!(
        run(&["--exclude", "d/*.log", "d/app.log", "d/x/app.log"]),
        "x app\n"
    );
    // `*` stays within a component.
    assert_eq!(run(&["--exclude", "d/*", "d/**/app.log"]), "x app\n");

    s.write(
        "lc.conf",
        b"path = d/**/*.log\nexclude = d/skip/**\nexclude = **/app.log\n",
    );
    assert_eq!(run(&["-c", "lc.conf"]), "debug\nx debug\n");
    // Excludes given on the command line replace the file's.
    assert_eq!(
        run(&["-c", "lc.conf", "--exclude", "**/x/**"]),
        "app\ndebug\nskip\ndeep skip\n"
    );

    let r = s.once(&["--exclude", "", "d/app.log"]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.contains("--exclude"), "{first}");
    s.write("bad.conf", b"path = d/app.log\nexclude =\n");
    let r = s.once(&["-c", "bad.conf"]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad.conf:2"), "{}", r.stderr);
}

#[test]
fn excludes_are_reloaded_on_sighup() {
    let s = Scenario::new();
    mkdirs(&s, &["d"]);
    s.write("d/a.log", b"a-1\n");
    s.write("d/b.log", b"b-1\n");
    s.write("lc.conf", b"path = d/*.log\nexclude = d/b.log\n");
    let d = s.spawn(&["-i", "20ms", "-c", "lc.conf"]);
    d.wait_stdout_eq(b"a-1\n");
    // Idle long enough that a.log is no longer held open.
    d.wait_cycles(3);
    s.write("lc.conf", b"path = d/*.log\nexclude = d/a.log\n");
    d.signal(libc::SIGHUP);
    d.wait_stderr("settings re-read");
    d.wait_stdout_eq(b"a-1\nb-1\n");
    d.wait_cycles(3);
    s.append("d/a.log", b"a-2\n");
    s.append("d/b.log", b"b-2\n");
    d.wait_stdout_eq(b"a-1\nb-1\nb-2\n");
    d.wait_cycles(2);
    let r = d.stop_ok();
    assert_same_bytes(&r.stdout, b"a-1\nb-1\nb-2\n", "output");
}

#[test]
fn a_pattern_matching_nothing_warns_once_and_again_after_it_stopped() {
    let s = Scenario::new();
    mkdirs(&s, &["d"]);
    let d = s.spawn(&["-i", "20ms", "d/**/a.log"]);
    let said = "d/**/a.log matches no file (yet); watching for it";
    d.wait_stderr(said);
    d.wait_cycles(3);
    let lines = stderr_lines_with(&d.stderr(), said);
    assert_eq!(lines.len(), 1, "{}", d.stderr());
    assert!(lines[0].contains(" WARN "), "{}", lines[0]);
    mkdirs(&s, &["d/x/y"]);
    s.write("d/x/y/a.log", b"hello\n");
    d.wait_stdout_eq(b"hello\n");
    d.wait_cycles(2);
    assert_eq!(d.stderr().matches(said).count(), 1, "{}", d.stderr());
    fs::remove_dir_all(s.path("d/x")).unwrap();
    d.wait_stderr_count(said, 2);
    d.wait_cycles(3);
    assert_eq!(d.stderr().matches(said).count(), 2, "{}", d.stderr());
    d.stop_ok();
}

#[test]
fn an_unreadable_directory_is_warned_about_and_its_files_not_taken_for_gone() {
    let s = Scenario::new();
    mkdirs(&s, &["d/x/sub", "d/y"]);
    s.write("d/x/sub/a.log", b"x-1\n");
    s.write("d/y/a.log", b"y-1\n");
    for f in ["d/x/sub/a.log", "d/y/a.log"] {
        fs::set_permissions(s.path(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    for dir in ["d", "d/x", "d/x/sub", "d/y"] {
        fs::set_permissions(s.path(dir), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let state = s.path("st");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let Some(cmd) = as_other_user(&s, &["-s", "st", "-i", "20ms", "d/**/a.log"]) else {
        return;
    };
    let d = Daemon::start(cmd);
    d.wait_stdout_eq(b"x-1\ny-1\n");
    fs::set_permissions(s.path("d/x"), fs::Permissions::from_mode(0o000)).unwrap();
    d.wait_stderr("cannot read directory d/x");
    s.append("d/x/sub/a.log", b"x-2\n");
    s.append("d/y/a.log", b"y-2\n");
    d.wait_stdout_eq(b"x-1\ny-1\ny-2\n");
    d.wait_cycles(3);
    fs::set_permissions(s.path("d/x"), fs::Permissions::from_mode(0o755)).unwrap();
    d.wait_stdout_eq(b"x-1\ny-1\ny-2\nx-2\n");
    d.wait_cycles(3);
    let r = d.stop_ok();
    assert_same_bytes(&r.stdout, b"x-1\ny-1\ny-2\nx-2\n", "output");
    assert_eq!(
        r.stderr.matches("cannot read directory").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_rotated_to_an_excluded_name_is_still_drained() {
    let s = Scenario::new();
    mkdirs(&s, &["d"]);
    s.write("d/app.log", b"a-1\n");
    let d = s.spawn(&["-i", "20ms", "--exclude", "**/*.1", "d/app.log*"]);
    d.wait_stdout_eq(b"a-1\n");
    d.freeze();
    s.append("d/app.log", b"a-2\n");
    s.rename("d/app.log", "d/app.log.1");
    s.write("d/app.log", b"b-1\n");
    d.thaw();
    d.wait_stdout_eq(b"a-1\na-2\nb-1\n");
    // Excluded, it is not taken on as a file of its own.
    s.write("d/app.log.new.1", b"never\n");
    s.append("d/app.log", b"b-2\n");
    d.wait_stdout_eq(b"a-1\na-2\nb-1\nb-2\n");
    d.wait_cycles(3);
    let r = d.stop_ok();
    assert_same_bytes(&r.stdout, b"a-1\na-2\nb-1\nb-2\n", "output");
}
