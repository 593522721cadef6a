//! Crash torture: a writer appends while the collector is killed with
//! SIGKILL at random moments and started again, many times. With file output
//! the final output must equal the input exactly; with stdout, no line may be
//! lost and a repeat may only be the contiguous tail of a run that died.
//!
//! `LOG_COLLECTOR_TORTURE_KILLS` sets the number of kills (default 12) and
//! `LOG_COLLECTOR_TORTURE_SEED` the seed; the seed is printed on failure.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::util::*;

/// A small seeded generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn settings() -> (usize, u64) {
    (
        env_count("LOG_COLLECTOR_TORTURE_KILLS", 12),
        env_seed("LOG_COLLECTOR_TORTURE_SEED"),
    )
}

/// Runs the collector with `args` `kills` times, each killed with SIGKILL at a
/// random moment, while a writer appends; returns each run's stdout and all
/// the writer wrote.
fn torture(s: &Scenario, args: &[&str], kills: usize, seed: u64) -> (Vec<Vec<u8>>, Vec<u8>) {
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(s.path("app.log"), seed, Arc::clone(&stop));
    let mut rng = Rng(seed);
    let mut runs = Vec::new();
    for _ in 0..kills {
        let d = s.spawn(args);
        thread::sleep(Duration::from_millis(1 + rng.below(60)));
        let r = d.kill9();
        assert!(!r.stderr.contains("panicked"), "seed {seed}: {}", r.stderr);
        runs.push(r.stdout);
    }
    stop.store(true, Ordering::Relaxed);
    (runs, w.join().unwrap())
}

/// Appends numbered lines of varying length in bursts until told to stop;
/// returns everything it wrote.
fn writer(
    path: std::path::PathBuf,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut rng = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        let mut all = Vec::new();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut burst = Vec::new();
            for _ in 0..1 + rng.below(200) {
                n += 1;
                let pad = "x".repeat(rng.below(300) as usize);
                burst.extend_from_slice(format!("seq={n} {pad}\n").as_bytes());
            }
            // Sometimes a line is written in two halves, across a poll.
            let cut = if rng.below(4) == 0 {
                rng.below(burst.len() as u64) as usize
            } else {
                burst.len()
            };
            file.write_all(&burst[..cut]).unwrap();
            thread::sleep(Duration::from_micros(rng.below(3000)));
            file.write_all(&burst[cut..]).unwrap();
            all.extend_from_slice(&burst);
        }
        all
    })
}

#[test]
fn kill9_at_random_moments_with_file_output_is_exactly_once() {
    let (kills, seed) = settings();
    eprintln!("torture seed {seed} (LOG_COLLECTOR_TORTURE_SEED), {kills} kills");
    let s = Scenario::new();
    let (_, all) = torture(&s, &["-i", "5ms", "-o", "out.txt", "app.log"], kills, seed);
    let r = s.once(&["-o", "out.txt", "app.log"]);
    assert_eq!(r.code(), 0, "seed {seed}: {}", r.stderr);
    let out = s.read("out.txt");
    eprintln!("{} lines checked", line_count(&all));
    assert_same_bytes(
        &out,
        &all,
        &format!("output after {kills} kills, seed {seed}"),
    );
}

#[test]
fn kill9_at_random_moments_with_stdout_loses_nothing() {
    let (kills, seed) = settings();
    eprintln!("torture seed {seed} (LOG_COLLECTOR_TORTURE_SEED), {kills} kills");
    let s = Scenario::new();
    let (mut runs, all) = torture(&s, &["-i", "5ms", "app.log"], kills, seed);
    runs.push(s.once(&["app.log"]).stdout);
    // Lines carry unique increasing numbers. Each run must send whole input
    // lines, consecutively, starting no later than one past the highest line
    // sent before (a restart resends at most what was not confirmed).
    let seq = |line: &[u8]| -> u64 {
        let text = std::str::from_utf8(line).unwrap();
        text.strip_prefix("seq=")
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    let input: Vec<&[u8]> = all.split_inclusive(|&b| b == b'\n').collect();
    let mut highest = 0u64;
    let mut repeats = 0u64;
    for (i, out) in runs.iter().enumerate() {
        let mut expect: Option<u64> = None;
        for line in out.split_inclusive(|&b| b == b'\n') {
            if !line.ends_with(b"\n") {
                // Killed in the middle of a write: the reader got part of a
                // line. The restart sends that line again whole.
                let candidates = match expect {
                    Some(next) => next as usize - 1..next as usize,
                    None => 0..(highest as usize + 1).min(input.len()),
                };
                assert!(
                    input[candidates]
                        .iter()
                        .any(|whole| whole.starts_with(line)),
                    "seed {seed}: run {i} ends with a torn line that is no input line"
                );
                break;
            }
            let n = seq(line);
            assert_eq!(
                line,
                input[n as usize - 1],
                "seed {seed}: run {i} altered line {n}"
            );
            match expect {
                None => assert!(
                    n <= highest + 1,
                    "seed {seed}: run {i} skipped lines {}..{n}",
                    highest + 1
                ),
                Some(e) => assert_eq!(n, e, "seed {seed}: run {i} is not contiguous"),
            }
            if n <= highest {
                repeats += 1;
            }
            highest = highest.max(n);
            expect = Some(n + 1);
        }
    }
    eprintln!(
        "{} lines checked, {repeats} repeated after kills",
        input.len()
    );
    assert_eq!(
        highest,
        input.len() as u64,
        "seed {seed}: lines after {highest} were never delivered"
    );
}
