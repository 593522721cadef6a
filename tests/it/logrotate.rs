//! The real `logrotate` (`rotate 3`, `missingok`, `create`, `nocompress`,
//! run with `-f` and a state file of its own) on a log whose writer opens it
//! for each line, while the log is also deleted and recreated now and then.
//!
//! The steps are driven one by one, the collector frozen where a sequence
//! must fall between two of its looks. In each round:
//!
//! 1. the writer appends to `app.log`, and the lines come out;
//! 2. `app.log` is deleted, logrotate runs with nothing to rotate
//!    (`missingok`), and the writer recreates the log;
//! 3. between two looks: `app.log` is deleted again, the writer recreates it
//!    and writes a few lines, logrotate moves it to `app.log.1` before the
//!    collector has seen it, and the writer goes on in the new `app.log`.
//!
//! The file made in step 3 stays on disk (as `app.log.1`, later `.2` and
//! `.3`) for many intervals, so its lines must come out, before those of the
//! file that follows it.
//!
//! ext4 and xfs hand freed inode numbers out again soon, and the collector
//! remembers the files it let go (by number) for an hour. So that this is
//! tried, not left to chance, the file of step 3 is put on a number the
//! collector remembers: other logs (`others/*.log`) are followed and deleted
//! first, and files are created until the filesystem gives one of their
//! numbers, or the one freed in step 2, again. A generation first seen on a
//! remembered number but born at another time is a new file.
//!
//! Skipped where logrotate is not installed (a failure under
//! `LOG_COLLECTOR_STRICT=1`) and where the filesystem of the temp dir keeps
//! no birth times (without them a generation that came and went between two
//! looks cannot be found; README, "Several rotations between two looks").

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

/// Files created at most, per round, to be given a remembered number again.
const RECYCLE_TRIES: usize = 200;

const ROUNDS: usize = 4;

/// The other logs followed and deleted before the rounds.
const OTHERS: usize = 64;

/// logrotate on PATH, else where Debian puts it.
fn logrotate_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join("logrotate"))
        .find(|p| p.is_file())
}

/// logrotate with a config and a state file of its own in the scenario's dir.
struct Logrotate {
    binary: PathBuf,
    conf: PathBuf,
    state: PathBuf,
}

impl Logrotate {
    fn new(s: &Scenario, binary: PathBuf) -> Logrotate {
        let conf = s.path("logrotate.conf");
        let log = fs::canonicalize(s.dir.path())
            .expect("canonicalize")
            .join("app.log");
        fs::write(
            &conf,
            format!(
                "{} {{\n    rotate 3\n    missingok\n    create\n    nocompress\n}}\n",
                log.display()
            ),
        )
        .expect("write logrotate.conf");
        Logrotate {
            binary,
            conf,
            state: s.path("logrotate.state"),
        }
    }

    /// `logrotate -s STATE -f CONF`, which must succeed.
    fn force(&self) {
        let out = Command::new(&self.binary)
            .arg("-s")
            .arg(&self.state)
            .arg("-f")
            .arg(&self.conf)
            .output()
            .expect("run logrotate");
        assert!(
            out.status.success(),
            "logrotate failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Waits until the collector holds no descriptor on a deleted file (it lets
/// a drained one go two quiet intervals after its last growth). Without
/// /proc this cannot be seen; some cycles are waited for instead.
fn wait_deleted_let_go(d: &Daemon) {
    if fd_targets(d.pid()).is_none() {
        d.wait_cycles(10);
        return;
    }
    let freed = wait_until("no deleted file open", || {
        let fds = fd_targets(d.pid())?;
        (!fds.iter().any(|f| f.ends_with("(deleted)"))).then_some(())
    });
    assert!(
        freed.is_some(),
        "a deleted file is still held: {:?}\nstderr:\n{}",
        fd_targets(d.pid()),
        d.stderr()
    );
}

/// Creates `app.log` (as its writer does), on one of the inode numbers
/// `wanted` if the filesystem gives one out again within a few tries: the
/// files that get other numbers are moved aside (to `spare/`, which no
/// watched name matches) so that each try takes another free number.
/// Returns the number it got, if wanted.
fn create_on_one_of(s: &Scenario, round: usize, wanted: &HashSet<u64>) -> Option<u64> {
    fs::create_dir_all(s.path("spare")).expect("mkdir spare");
    for i in 0..RECYCLE_TRIES {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(s.path("app.log"))
            .expect("create app.log");
        let got = f.metadata().expect("fstat").ino();
        if wanted.contains(&got) {
            return Some(got);
        }
        if i + 1 == RECYCLE_TRIES {
            break;
        }
        drop(f);
        fs::rename(s.path("app.log"), s.path(&format!("spare/{round}-{i}")))
            .expect("move a spare aside");
    }
    None
}

/// Appends `lines` (of app.log) to what is expected and waits until the
/// output ends with the last of them; then checks that the output's lines
/// of app.log are exactly what was expected, in order.
fn expect_delivered(d: &Daemon, out: &Path, want: &mut Vec<u8>, lines: &[u8], what: &str) {
    want.extend_from_slice(lines);
    let last = lines
        .split_inclusive(|&b| b == b'\n')
        .next_back()
        .expect("a line")
        .to_vec();
    let got = wait_until(what, || {
        let bytes = fs::read(out).unwrap_or_default();
        bytes.ends_with(&last).then_some(bytes)
    })
    .unwrap_or_else(|| {
        panic!(
            "timed out waiting for {what} ({:?}); out.txt holds:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&last),
            String::from_utf8_lossy(&fs::read(out).unwrap_or_default()),
            d.stderr()
        )
    });
    let got = lines_starting_with(&got, "r");
    if got != *want {
        eprintln!("collector stderr:\n{}", d.stderr());
    }
    assert_same_bytes(
        &got,
        want,
        &format!("app.log's lines in out.txt after {what}"),
    );
}

#[test]
fn real_logrotate_with_deletes_delivers_every_generation_that_stayed_on_disk_exactly_once() {
    let Some(binary) = logrotate_binary() else {
        skip("logrotate is not installed");
        return;
    };
    let s = Scenario::new();
    s.append("app.log", &numbered("r0-a", 1, 3));
    if fs::metadata(s.path("app.log"))
        .and_then(|m| m.created())
        .is_err()
    {
        skip("the temp dir's filesystem keeps no birth times");
        return;
    }
    fs::create_dir(s.path("others")).expect("mkdir others");
    for i in 1..=OTHERS {
        s.append(
            &format!("others/o-{i}.log"),
            format!("other-{i}\n").as_bytes(),
        );
    }
    let lr = Logrotate::new(&s, binary);
    let d = s.spawn(&["-i", "50ms", "-o", "out.txt", "app.log", "others/*.log"]);
    let out = s.path("out.txt");
    let others: Vec<u8> = (1..=OTHERS)
        .flat_map(|i| format!("other-{i}\n").into_bytes())
        .collect();
    let first = numbered("r0-a", 1, 3);
    let got = wait_file(&out, "the first lines of every log", |b| {
        line_count(b) >= OTHERS + 3
    });
    let mut got_others: Vec<&[u8]> = got
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"other-"))
        .collect();
    got_others.sort_by_key(|l| {
        std::str::from_utf8(&l[6..l.len() - 1])
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
    });
    assert_same_bytes(&got_others.concat(), &others, "the other logs' lines");
    assert_same_bytes(
        &lines_starting_with(&got, "r"),
        &first,
        "app.log's first lines",
    );
    let mut want = first;

    // The other logs go; the collector lets them go and remembers them.
    let mut remembered = HashSet::new();
    for i in 1..=OTHERS {
        let name = format!("others/o-{i}.log");
        remembered.insert(fs::metadata(s.path(&name)).expect("stat").ino());
        s.remove(&name);
    }
    d.wait_cycles(3);
    wait_deleted_let_go(&d);

    let mut recycled = 0;
    for round in 1..=ROUNDS {
        // 1. The writer appends.
        let a = numbered(&format!("r{round}-a"), 1, 5);
        s.append("app.log", &a);
        expect_delivered(
            &d,
            &out,
            &mut want,
            &a,
            &format!("round {round}'s first lines"),
        );

        // 2. Deleted, logrotate finds nothing (missingok), the writer makes a
        // new log. The deleted file is held here until the collector has let
        // it go, so that the new log cannot take its number.
        let held = File::open(s.path("app.log")).expect("open app.log");
        remembered.insert(held.metadata().expect("fstat").ino());
        s.remove("app.log");
        lr.force();
        d.wait_cycles(3);
        let a2 = numbered(&format!("r{round}-recreated"), 1, 4);
        s.append("app.log", &a2);
        expect_delivered(
            &d,
            &out,
            &mut want,
            &a2,
            &format!("round {round}'s recreated log"),
        );
        wait_deleted_let_go(&d);
        drop(held); // its number is free now

        // 3. Between two looks: deleted, recreated (on a remembered number),
        // written, rotated by logrotate, and the writer goes on.
        d.freeze();
        s.remove("app.log");
        let on = create_on_one_of(&s, round, &remembered);
        let how = match on {
            Some(ino) => {
                recycled += 1;
                remembered.remove(&ino);
                format!("on inode number {ino}, of a file the collector let go")
            }
            None => "on a new inode number".to_string(),
        };
        eprintln!("round {round}: the unseen file is {how}");
        let b = numbered(&format!("r{round}-rotated-unseen"), 1, 6);
        s.append("app.log", &b);
        lr.force();
        assert!(s.path("app.log.1").exists(), "logrotate did not rotate");
        let c = numbered(&format!("r{round}-new"), 1, 3);
        s.append("app.log", &c);
        d.thaw();
        want.extend_from_slice(&b);
        expect_delivered(
            &d,
            &out,
            &mut want,
            &c,
            &format!("round {round}'s log after the unseen rotation (the unseen file is {how})"),
        );
    }
    eprintln!("{recycled} of {ROUNDS} unseen generations were on a recycled inode number");
    d.stop_ok();
    assert_same_bytes(
        &lines_starting_with(&s.read("out.txt"), "r"),
        &want,
        "app.log's lines in out.txt",
    );
}
