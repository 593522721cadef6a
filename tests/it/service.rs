//! What the systemd unit relies on from the binary: a state dir that
//! belongs to another user is refused with a message naming its owner and
//! the fix, and that refusal, like a usage error, exits with a status the
//! unit lists in `RestartPreventExitStatus=`, so it is not restarted in a
//! loop.

use std::fs;
use std::os::unix::fs::{chown, MetadataExt};

use crate::cli::{as_other_user, NOBODY};
use crate::util::*;

/// The statuses `systemd/log-collector.service` does not restart on.
fn not_restarted() -> Vec<i32> {
    let unit = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/log-collector.service"
    ))
    .expect("read the unit");
    unit.lines()
        .filter_map(|l| l.strip_prefix("RestartPreventExitStatus="))
        .flat_map(|v| v.split_whitespace())
        .map(|w| w.parse().expect("a numeric status"))
        .collect()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_usage_error_is_not_restarted_by_the_unit() {
    let s = Scenario::new();
    let r = s.once(&["--interval", "0", "a.log"]);
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert!(not_restarted().contains(&r.code()), "{:?}", not_restarted());
}

/// `sudo log-collector --once` on the service's state dir would leave
/// root-owned files there that the service cannot open.
#[test]
fn root_refuses_a_state_dir_that_another_user_owns() {
    if !is_root() {
        return skip("needs root to own a state dir as another user");
    }
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    fs::create_dir(&s.state).unwrap();
    chown(&s.state, Some(NOBODY), Some(NOBODY)).unwrap();
    let r = s.once(&["a.log"]);
    assert!(not_restarted().contains(&r.code()), "{}", r.stderr);
    assert_ne!(r.code(), 2, "not a usage error: {}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    let state = show(&s.state);
    for part in [state.as_str(), "uid 65534", "root"] {
        assert!(first.contains(part), "{first:?} does not name {part:?}");
    }
    assert!(r.stderr.contains("hint:") && r.stderr.contains("--state-dir"));
    assert_eq!(r.stdout, b"", "nothing delivered");
    let left: Vec<_> = fs::read_dir(&s.state).unwrap().collect();
    assert!(left.is_empty(), "root left files: {left:?}");
}

/// The service's dir (its owner set right by systemd) holding the files of
/// an earlier run as root.
#[test]
fn files_another_user_left_in_the_state_dir_are_named_with_their_owner() {
    if !is_root() {
        return skip("needs root to leave root-owned files in a state dir");
    }
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let r = s.once(&["a.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    chown(&s.state, Some(NOBODY), Some(NOBODY)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(s.path("a.log"), fs::Permissions::from_mode(0o644)).unwrap();
    let state = s.state.to_str().unwrap().to_string();
    let Some(mut cmd) = as_other_user(&s, &["--once", "--state-dir", &state, "a.log"]) else {
        return;
    };
    cmd.env_remove("STATE_DIRECTORY");
    let r = Daemon::start(cmd).wait_exit();
    assert!(not_restarted().contains(&r.code()), "{}", r.stderr);
    assert_ne!(r.code(), 2, "not a usage error: {}", r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(first.contains(&state), "{first:?} names the state dir");
    assert!(first.contains("uid 0 (root)"), "{first:?} names the owner");
    assert!(first.contains("uid 65534"), "{first:?} names who runs");
    let hint = format!(
        "chown -R 65534:65534 {}",
        show(&fs::canonicalize(&s.state).unwrap())
    );
    assert!(r.stderr.contains(&hint), "{} gives {hint:?}", r.stderr);
    // Nothing changed: the files are still root's, the checkpoint intact.
    let meta = fs::metadata(s.state.join("checkpoints")).unwrap();
    assert_eq!(meta.uid(), 0);
}

/// Shown as the collector shows paths.
fn show(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_string()
}
