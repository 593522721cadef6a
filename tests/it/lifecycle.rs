//! A file's lifecycle across generations, restarts and truncations, as an
//! operator meets it: each test is named after what used to go wrong.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Duration;

use crate::util::*;

/// A small seeded generator (xorshift): the seed is printed, so a failing
/// run can be replayed with `LOG_COLLECTOR_GENERATION_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `gNNN-LL`: line LL of generation NNN.
fn label(line: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(line).ok()?;
    let (g, l) = text.strip_prefix('g')?.split_once('-')?;
    Some((g.parse().ok()?, l.parse().ok()?))
}

/// One round: `generations` lives of app.log, each created, written (at
/// times in two steps, at times ending in a partial line), left for a life
/// around the interval and deleted. Returns the output and stderr.
fn generations(rng: &mut Rng, count: u32) -> (Vec<u8>, String, u32) {
    let s = Scenario::new();
    let d = s.spawn(&["-i", "100ms", "-o", "out.txt", "app.log"]);
    d.wait_stderr("found 0 files");
    let mut lines_written = 0;
    for g in 0..count {
        let n = 1 + rng.below(6) as u32;
        lines_written += n;
        let mut body: Vec<u8> = (0..n)
            .flat_map(|l| format!("g{g:03}-{l:02}\n").into_bytes())
            .collect();
        if rng.below(10) < 3 {
            body.pop(); // ends in a partial line, finished at its deletion
        }
        let mut f = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(s.path("app.log"))
            .expect("create app.log");
        if rng.below(2) == 0 {
            let cut = 1 + rng.below(body.len() as u64 - 1) as usize;
            f.write_all(&body[..cut]).unwrap();
            std::thread::sleep(Duration::from_millis(rng.below(150)));
            f.write_all(&body[cut..]).unwrap();
        } else {
            f.write_all(&body).unwrap();
        }
        drop(f);
        // The file's life is the scenario, not a wait for the collector.
        std::thread::sleep(Duration::from_millis(20 + rng.below(230)));
        s.remove("app.log");
    }
    s.append("app.log", b"end\n");
    wait_file(&s.path("out.txt"), "the last line", |b| {
        b.ends_with(b"end\n")
    });
    let r = d.stop_ok();
    (s.read("out.txt"), r.stderr, lines_written)
}

/// Issue: 50 generations of app.log, each deleted and recreated after a life
/// around the interval: in about one run in three a line of generation N
/// came out after lines of generation N+2. A generation that lives less than
/// an interval may never be seen (it is gone before a look); every line that
/// is delivered comes in the order written, once.
#[test]
fn generations_at_one_path_come_out_in_the_order_they_were_created() {
    let rounds = env_count("LOG_COLLECTOR_GENERATION_ROUNDS", 3u32);
    let seed = env_seed("LOG_COLLECTOR_GENERATION_SEED");
    eprintln!("generation seed {seed} (LOG_COLLECTOR_GENERATION_SEED), {rounds} rounds");
    let mut rng = Rng(seed);
    for round in 0..rounds {
        let (out, stderr, written) = generations(&mut rng, 50);
        let body = out.strip_suffix(b"end\n").expect("ends with the last line");
        let mut last: Option<(u32, u32)> = None;
        let mut delivered = 0;
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let at = label(line).unwrap_or_else(|| {
                panic!("seed {seed} round {round}: a line not written: {line:?}")
            });
            assert!(
                last < Some(at),
                "seed {seed} round {round}: {} came after g{:03}-{:02}\n{stderr}",
                String::from_utf8_lossy(line),
                last.unwrap().0,
                last.unwrap().1
            );
            last = Some(at);
            delivered += 1;
        }
        // Most lives are longer than the interval: most lines are seen.
        assert!(
            delivered * 2 > written,
            "seed {seed} round {round}: only {delivered} of {written} lines\n{stderr}"
        );
    }
}

/// Issue: a file truncated and rewritten while the collector was stopped was
/// read again from 0 but only counted as "started at the beginning"; while
/// running the same event is a warning.
#[test]
fn a_file_rewritten_while_stopped_is_warned_about_as_a_truncation() {
    let s = Scenario::new();
    s.write("app.log", b"first line of many\nsecond line\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    // In place, the same inode and birth: truncated, then other bytes.
    let f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(s.path("app.log"))
        .unwrap();
    drop(f);
    s.append("app.log", b"new\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(
        &s.read("out.txt"),
        b"first line of many\nsecond line\nnew\n",
        "out.txt",
    );
    let warned: Vec<&str> = r.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warned.len() == 1 && warned[0].contains("app.log") && warned[0].contains("truncated"),
        "one warning naming the file and the truncation:\n{}",
        r.stderr
    );
    // The same, rewritten no shorter than the offset.
    s.write("app.log", b"an other line, longer than before\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert!(
        s.read("out.txt")
            .ends_with(b"new\nan other line, longer than before\n"),
        "{}",
        String::from_utf8_lossy(&s.read("out.txt"))
    );
    let warned: Vec<&str> = r.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert!(
        warned.len() == 1 && warned[0].contains("new content"),
        "one warning naming the rewrite:\n{}",
        r.stderr
    );
}

/// copytruncate while the collector was stopped, after lines were added
/// past the checkpoint: the copy is read from the checkpointed offset, then
/// the truncated file from its start; nothing twice, on this run or the next.
#[test]
fn a_copytruncate_copy_made_while_stopped_is_read_from_the_old_offset() {
    let s = Scenario::new();
    s.write("app.log", b"A1\nA2\n");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    s.append("app.log", b"A3\n");
    s.copytruncate("app.log", "app.log.1");
    s.append("app.log", b"C1\n");
    let want: &[u8] = b"A1\nA2\nA3\nC1\n";
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), want, "out.txt");
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), want, "out.txt after one more run");
    // The copy is not read again once the file it was copied from goes on.
    s.append("app.log", b"C2\n");
    fs::remove_file(s.path("app.log.1")).unwrap();
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_same_bytes(&s.read("out.txt"), b"A1\nA2\nA3\nC1\nC2\n", "out.txt");
}
