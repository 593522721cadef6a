#!/usr/bin/env python3
"""Side-by-side benchmark of log-collector against cat, dd and GNU tail -F.

Runs every measurement several times in one run, on this machine, and prints
a Markdown table of medians, ratios and whether each target holds. Speed goals
live here, never in `cargo test`.

    make bench                      # 512 MiB log, 5 repetitions
    python3 bench/bench.py --size-mib 128 --reps 3 --quick
    python3 bench/bench.py --only active,rss --quick
    python3 bench/bench.py --only idle --cost-reps 5

Sections (--only): catchup, latency, idle, active, rss, longline, globs.
The binaries come from $LC_BENCH_BIN_DIR (default: <repo>/target/release).
"""

import argparse
import multiprocessing
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN_DIR = os.environ.get("LC_BENCH_BIN_DIR", os.path.join(ROOT, "target", "release"))
LC = os.path.join(BIN_DIR, "log-collector")
LOGGEN = os.path.join(BIN_DIR, "loggen")
TICK = os.sysconf("SC_CLK_TCK")
SECTIONS = ("catchup", "latency", "idle", "active", "rss", "longline", "globs")
DEFAULT_INTERVAL_MS = 250
MAX_LINE_MIB = 1  # the collector's default --max-line-bytes


# ---------------------------------------------------------------- helpers

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def wait_size(path, size, deadline=120):
    """Wait until `path` holds at least `size` bytes; False on timeout."""
    end = time.time() + deadline
    while time.time() < end:
        try:
            if os.path.getsize(path) >= size:
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    return False


def cpu_seconds(pid):
    """User plus system CPU seconds `pid` has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kib(pid, key):
    """A KiB field of /proc/PID/status, such as VmRSS or VmHWM."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def limit_fds():
    """preexec_fn: the descriptor limits systemd gives a service by default,
    LimitNOFILE=1024:524288 (soft 1024; the hard limit no higher than this
    machine's)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 524288:
        hard = 524288
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


def count_lines(path):
    """Number of newline bytes in `path`."""
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def same_bytes(a, b):
    """True when the two files are byte-identical (cmp)."""
    return subprocess.run(["cmp", "-s", a, b]).returncode == 0


def same_json(a, b):
    """True when two json outputs are byte-identical but for each record's
    read time, which differs from run to run: `{"time":"` then 24 bytes open
    every record (bytes 10-33 of each line)."""
    q = shlex.quote
    cmd = f"cmp -s <(cut -b 1-9,34- {q(a)}) <(cut -b 1-9,34- {q(b)})"
    return subprocess.run(["bash", "-c", cmd]).returncode == 0


def lag_ms(line, now_us):
    """Milliseconds from the `ts=<unix µs> ` stamp at a line's start to `now_us`."""
    return (now_us - int(line[3:].split(b" ", 1)[0])) / 1000


def percentiles(lags):
    """p50, p99 and max of a list of lags (NaN when empty)."""
    if not lags:
        return float("nan"), float("nan"), float("nan")
    lags = sorted(lags)
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
    return pick(0.5), pick(0.99), lags[-1]


def stop(p):
    """SIGTERM a collector and reap it."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    p.wait()


# ---------------------------------------------------------------- catch-up

def catch_up(work, log, reps):
    """Seconds to copy the whole log, per tool (medians over `reps`), and
    whether each output was right: raw outputs must equal the input byte for
    byte, json outputs must equal a reference `--once json` run but for the
    read times (the reference must hold one record per input line). Sizes are checked on every repetition,
    contents with cmp on the first. Returns ({case: seconds}, {case: note})."""
    size = os.path.getsize(log)
    out = os.path.join(work, "out")
    state = os.path.join(work, "state")
    q = shlex.quote
    ref = os.path.join(work, "ref.json")

    def fresh():
        shutil.rmtree(state, ignore_errors=True)
        if os.path.exists(out):
            os.remove(out)
        # Untimed: the previous case's writeback must not slow the next one.
        os.sync()

    # The json reference (untimed; also warms the binary up).
    fresh()
    run(f"{q(LC)} --once --no-fsync --format json -s {q(state)} {q(log)} > {q(ref)}", shell=True,
        stderr=subprocess.DEVNULL)
    ref_ok = count_lines(ref) == count_lines(log)
    want = {"raw": (log, size), "json": (ref, os.path.getsize(ref))}

    def shell(cmd):
        return lambda: run(cmd, shell=True, stderr=subprocess.DEVNULL)

    def follower(cmd, expect, to_stdout=True, kill=False):
        """A long-running reader: timed until its output reaches `expect` bytes."""
        def go():
            with open(out, "wb") as f:
                p = subprocess.Popen(cmd, stdout=f if to_stdout else subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            wait_size(out, expect)  # on timeout the size check below flags the case
            if kill:
                p.kill()
            else:
                p.send_signal(signal.SIGTERM)
            p.wait()
        return go

    raw_size, json_size = want["raw"][1], want["json"][1]
    lc_s = [LC, "-s", state]
    cases = {  # name: (format of the output, runner)
        "cat": ("raw", shell(f"cat {q(log)} > {q(out)}")),
        "dd bs=1M": ("raw", shell(f"dd if={q(log)} of={q(out)} bs=1M status=none")),
        "dd bs=1M conv=fsync": ("raw", shell(f"dd if={q(log)} of={q(out)} bs=1M conv=fsync status=none")),
        "tail -F (polling)": ("raw", follower(["tail", "-n", "+1", "-F", "---disable-inotify", "-s", "0.25", log],
                                              raw_size, kill=True)),
        "lc --once raw --no-fsync": ("raw", shell(f"{q(LC)} --once --no-fsync -s {q(state)} {q(log)} > {q(out)}")),
        "lc --once raw (fsync)": ("raw", shell(f"{q(LC)} --once -s {q(state)} -o {q(out)} {q(log)}")),
        "lc --once json --no-fsync": ("json", shell(
            f"{q(LC)} --once --no-fsync --format json -s {q(state)} {q(log)} > {q(out)}")),
        "lc --once json (fsync)": ("json", shell(f"{q(LC)} --once --format json -s {q(state)} -o {q(out)} {q(log)}")),
        "lc daemon raw --no-fsync": ("raw", follower(lc_s + ["--no-fsync", log], raw_size)),
        "lc daemon raw (fsync)": ("raw", follower(lc_s + ["-o", out, log], raw_size, to_stdout=False)),
        "lc daemon json --no-fsync": ("json", follower(lc_s + ["--no-fsync", "--format", "json", log], json_size)),
    }
    times = {name: [] for name in cases}
    wrong = {name: "" for name in cases}
    for rep in range(reps):
        for name, (fmt, fn) in cases.items():
            fresh()
            times[name].append(timed(fn))
            path, expect = want[fmt]
            same = same_json if fmt == "json" else same_bytes
            if os.path.getsize(out) != expect or (rep == 0 and not same(path, out)):
                wrong[name] = "BYTES DIFFER"
            if fmt == "json" and not ref_ok:
                wrong[name] = "BYTES DIFFER (json reference lost lines)"
    fresh()
    os.remove(ref)
    return {name: statistics.median(t) for name, t in times.items()}, wrong


def section_catchup(args, work):
    """Catch-up throughput of every tool on one log of --size-mib MiB."""
    log = os.path.join(work, "in.log")
    run([LOGGEN, "--rate", "0", "--bytes", str(args.size_mib << 20), log])
    mib = os.path.getsize(log) / (1 << 20)
    run(["cat", log], stdout=subprocess.DEVNULL)  # into the page cache
    t, wrong = catch_up(work, log, args.reps)
    os.remove(log)
    rows = []
    for name, secs in t.items():
        note = f"{t['cat'] / secs:.2f}x cat" + (f"; {wrong[name]}" if wrong[name] else "")
        rows.append((f"catch-up {args.size_mib} MiB: {name}", f"{mib / secs:,.0f} MiB/s", note))
    ok = lambda name: not wrong[name]
    for i, (name, secs) in enumerate(t.items()):
        if "fsync)" in name:
            rows[i] = (rows[i][0], rows[i][1], rows[i][2] + f"; {t['dd bs=1M conv=fsync'] / secs:.2f}x dd conv=fsync")
    targets = [
        ("raw --no-fsync >= 0.75x cat",
         ok("lc --once raw --no-fsync") and t["lc --once raw --no-fsync"] <= t["cat"] / 0.75),
        ("raw fsync >= 0.85x dd conv=fsync",
         ok("lc --once raw (fsync)") and t["lc --once raw (fsync)"] <= t["dd bs=1M conv=fsync"] / 0.85),
        ("json >= 0.3x cat",
         ok("lc --once json --no-fsync") and t["lc --once json --no-fsync"] <= t["cat"] / 0.3),
    ]
    return rows, targets


# ---------------------------------------------------------------- follow latency

def latency(work, interval_ms, seconds, rate, tool):
    """p50/p99/max milliseconds from a line's write (its ts=) to its arrival
    on the follower's stdout, for one file written by `loggen --stamp`."""
    log = os.path.join(work, f"lat-{tool}-{interval_ms}.log")
    open(log, "w").close()
    state = os.path.join(work, f"lat-state-{tool}-{interval_ms}")
    if tool == "lc":
        cmd = [LC, "-s", state, "-i", f"{interval_ms}ms", "--no-fsync", log]
    else:
        cmd = ["tail", "-n", "+1", "-F", "---disable-inotify", "-s", str(interval_ms / 1000), log]
    reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(seconds + 30, reader.kill)  # lost lines must not hang the run
    watchdog.start()
    time.sleep(0.5)
    gen = subprocess.Popen([LOGGEN, "--rate", str(rate), "--stamp", "--lines", str(rate * seconds), log])
    lags = []
    while len(lags) < rate * seconds:
        line = reader.stdout.readline()
        if not line:
            break
        if line.startswith(b"ts="):
            lags.append(lag_ms(line, time.time() * 1e6))
    watchdog.cancel()
    gen.wait()
    reader.kill()
    reader.wait()
    os.remove(log)
    return percentiles(lags)


def section_latency(args, work):
    """Follow latency of lc and tail -F at 250 and 50 ms, 2,000 lines/s."""
    seconds = 5 if args.quick else 15
    rows, lat = [], {}
    for tool in ("lc", "tail"):
        for ms in (250, 50):
            lat[(tool, ms)] = p50, p99, mx = latency(work, ms, seconds, 2000, tool)
            rows.append((f"follow latency {tool}, {ms} ms interval, 2,000 lines/s",
                         f"p50 {p50:.0f} / p99 {p99:.0f} / max {mx:.0f} ms", ""))
    targets = [(f"p99 latency <= {ms + 10} ms at {ms} ms", lat[("lc", ms)][1] <= ms + 10) for ms in (250, 50)]
    return rows, targets


# ---------------------------------------------------------------- idle cost

def tail_cmd(paths, interval_ms):
    """GNU tail's polling follower on `paths`, from their current ends."""
    return ["tail", "-q", "-n", "0", "-F", "---disable-inotify", "-s", str(interval_ms / 1000)] + paths


def fds_for(n):
    """A preexec_fn raising the descriptor limit to n + 64: tail holds one per file."""
    def raise_limit():
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    return raise_limit


def idle(work, files, seconds, interval="250ms", tool="lc"):
    """CPU share of one core, RSS (MiB) and most descriptors held, with
    `files` idle files, over `seconds` after catch-up; lc with a service's
    default limits (`limit_fds`), tail -F (for reference) with a descriptor
    per file."""
    d = os.path.join(work, f"idle-{files}")
    os.makedirs(d, exist_ok=True)
    paths = [os.path.join(d, f"f{i:05}.log") for i in range(files)]
    for i, path in enumerate(paths):
        with open(path, "w") as f:
            f.write(f"line of file {i}\n")
    state = os.path.join(work, f"idle-state-{files}-{interval}")
    if tool == "lc":
        p = subprocess.Popen([LC, "-s", state, "-i", interval, "-o", "/dev/null", os.path.join(d, "*.log")],
                             stderr=subprocess.DEVNULL, preexec_fn=limit_fds)
    else:
        p = subprocess.Popen(tail_cmd(paths, int(interval.rstrip("ms"))), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, preexec_fn=fds_for(files))
    time.sleep(3)  # caught up
    before = cpu_seconds(p.pid)
    fds = 0
    end = time.time() + seconds
    while time.time() < end:
        fds = max(fds, len(os.listdir(f"/proc/{p.pid}/fd")))
        time.sleep(0.25)
    share = (cpu_seconds(p.pid) - before) / seconds * 100
    rss = status_kib(p.pid, "VmRSS") / 1024
    stop(p)
    shutil.rmtree(d)
    shutil.rmtree(state, ignore_errors=True)
    return share, rss, fds


IDLE_CASES = ((1000, "250ms"), (10000, "250ms"), (1000, "50ms"), (10000, "50ms"))


def section_idle(args, work):
    """Idle cost of 1,000 and 10,000 files at 250 ms and at 50 ms: medians
    over --cost-reps runs of each tool, lc and tail -F alternating, and lc's
    CPU as a ratio to tail -F's from the same run."""
    seconds = 5 if args.quick else 10
    rows, targets = [], []
    for n, interval in IDLE_CASES:
        runs = {"lc": [], "tail": []}
        for _ in range(args.cost_reps):
            for tool in runs:
                runs[tool].append(idle(work, n, seconds, interval, tool=tool))
        med = {tool: [statistics.median(r[k] for r in rs) for k in range(3)] for tool, rs in runs.items()}
        fds = {tool: max(r[2] for r in rs) for tool, rs in runs.items()}
        (lc, lc_rss, _), (tail, tail_rss, _) = med["lc"], med["tail"]
        ratio = lc / tail if tail else float("nan")
        ms = interval.rstrip("ms")
        rows.append((f"idle, {n:,} files, {ms} ms: lc", f"{lc:.2f}% CPU, {lc_rss:.1f} MiB RSS",
                     f"{ratio:.2f}x tail -F; {fds['lc']} fds"))
        rows.append((f"idle, {n:,} files, {ms} ms: tail -F", f"{tail:.2f}% CPU, {tail_rss:.1f} MiB RSS",
                     f"{fds['tail']} fds"))
        if (n, interval) != (10000, "50ms"):
            targets.append((f"idle {n:,} files at {ms} ms <= 0.8x tail -F, <= 64 fds",
                            ratio <= 0.8 and fds["lc"] <= 64))
        if (n, interval) == (10000, "250ms"):
            targets.append(("RSS 10,000 idle files <= 12 MiB", lc_rss <= 12))
    return rows, targets


# ---------------------------------------------------------------- many active files

ROUND_S = 0.1  # the writer's round spacing: one line per file per round


def active_writer(paths, seconds, conn):
    """Append one `ts=<unix µs> ` stamped line to every file in `paths` each
    ROUND_S, for `seconds`. Files are opened once (unbuffered descriptors, one
    write per line); rounds keep to an absolute schedule so pacing does not
    drift. Sends (rounds, rounds started late, longest round in ms) to `conn`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < len(paths) + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, len(paths) + 64), hard))
    fds = [os.open(p, os.O_WRONLY | os.O_APPEND) for p in paths]
    rounds = int(seconds / ROUND_S)
    late, longest = 0, 0.0
    start = time.time()
    for k in range(rounds):
        delay = start + k * ROUND_S - time.time()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.01:
            late += 1
        t0 = time.time()
        for i, fd in enumerate(fds):
            os.write(fd, b"ts=%d file=%04d round=%d level=INFO msg=\"request served\" status=200\n"
                     % (time.time_ns() // 1000, i, k))
        longest = max(longest, time.time() - t0)
    for fd in fds:
        os.close(fd)
    conn.send((rounds, late, longest * 1000))
    conn.close()


def active(work, files, warmup, window, tool="lc"):
    """The collector following `files` files that each get 10 lines/s, at the
    default interval, its stdout read through a pipe. Over `window` seconds
    after a `warmup`: the collector's CPU share of one core, the follow
    latency (p50/p99/max ms) of lines arriving in the window, lines/s received,
    and the writer's own record (rounds late, longest round in ms)."""
    d = os.path.join(work, f"active-{files}")
    os.makedirs(d, exist_ok=True)
    paths = [os.path.join(d, f"f{i:04}.log") for i in range(files)]
    for p in paths:
        open(p, "w").close()
    state = os.path.join(work, "active-state")
    if tool == "lc":
        lc = subprocess.Popen([LC, "-s", state, os.path.join(d, "*.log")], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, preexec_fn=limit_fds)
    else:
        lc = subprocess.Popen(tail_cmd(paths, DEFAULT_INTERVAL_MS), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, preexec_fn=fds_for(files))
    time.sleep(1)  # every file discovered
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    writer = ctx.Process(target=active_writer, args=(paths, warmup + window + 2, send))
    writer.start()
    send.close()  # so recv() fails rather than hangs if the writer dies
    watchdog = threading.Timer(warmup + window + 30, lc.kill)  # a stalled collector must not hang the run
    watchdog.start()
    warm_end = time.time() + warmup
    lags, t0, cpu0 = [], None, None
    for line in lc.stdout:
        now = time.time()
        if t0 is None:
            if now < warm_end:
                continue
            t0, cpu0 = now, cpu_seconds(lc.pid)
        if now >= t0 + window:
            break
        if line.startswith(b"ts="):
            lags.append(lag_ms(line, now * 1e6))
    t1 = time.time()
    share = (cpu_seconds(lc.pid) - cpu0) / (t1 - t0) * 100 if t0 and lc.poll() is None else float("nan")
    watchdog.cancel()
    writer.join()
    rounds, late, longest = recv.recv()
    lc.kill()
    lc.wait()
    shutil.rmtree(d)
    return share, percentiles(lags), len(lags) / (t1 - t0) if t0 else 0, late, longest


def section_active(args, work):
    """1,000 files each appended at 10 lines/s (10,000 lines/s in all):
    medians over --cost-reps runs, lc and tail -F alternating."""
    files = 1000
    warmup, window = (3, 5) if args.quick else (5, 15)
    runs = {"lc": [], "tail": []}
    for _ in range(args.cost_reps):
        for tool in runs:
            runs[tool].append(active(work, files, warmup, window, tool))
    rows, med = [], {}
    for tool, name in (("lc", "lc"), ("tail", "tail -F")):
        rs = runs[tool]
        share = statistics.median(r[0] for r in rs)
        p50, p99, mx = (statistics.median(r[1][k] for r in rs) for k in range(3))
        rate = statistics.median(r[2] for r in rs)
        late, longest = max(r[3] for r in rs), max(r[4] for r in rs)
        med[tool] = (share, p99)
        rows += [
            (f"active, {files:,} files x 10 lines/s, 250 ms: {name}", f"{share:.2f}% CPU",
             f"{rate:,.0f} lines/s received; writer {late} rounds late, longest {longest:.0f} ms"),
            (f"follow latency, {files:,} active files, 250 ms: {name}",
             f"p50 {p50:.0f} / p99 {p99:.0f} / max {mx:.0f} ms",
             f"expected p99 <= {DEFAULT_INTERVAL_MS + 10 + ROUND_S * 1000:.0f} ms"),
        ]
    (lc, lc_p99), (tail, _) = med["lc"], med["tail"]
    rows[0] = (rows[0][0], rows[0][1], f"{lc / tail:.2f}x tail -F; " + rows[0][2]) if tail else rows[0]
    return rows, [
        (f"{files:,} active files at 10 lines/s <= 1.0x tail -F CPU", lc <= tail),
        (f"p99 latency, {files:,} active files <= {DEFAULT_INTERVAL_MS + 10 + ROUND_S * 1000:.0f} ms",
         lc_p99 <= DEFAULT_INTERVAL_MS + 10 + ROUND_S * 1000),
    ]


# ---------------------------------------------------------------- RSS following one file

def rss_one_file(work, seconds, rate=2000):
    """Peak (VmHWM) and current (VmRSS) resident memory, in MiB, of the daemon
    following one file that `loggen --stamp` appends to at `rate` lines/s for
    `seconds`, output to /dev/null."""
    log = os.path.join(work, "rss.log")
    open(log, "w").close()
    p = subprocess.Popen([LC, "-s", os.path.join(work, "rss-state"), "-o", "/dev/null", log],
                         stderr=subprocess.DEVNULL)
    run([LOGGEN, "--rate", str(rate), "--stamp", "--lines", str(rate * seconds), log])
    time.sleep(0.5)  # the last lines collected
    if p.poll() is not None:
        raise RuntimeError(f"log-collector exited with {p.returncode} following {log}")
    peak, now = status_kib(p.pid, "VmHWM") / 1024, status_kib(p.pid, "VmRSS") / 1024
    stop(p)
    os.remove(log)
    return peak, now


def section_rss(args, work):
    """Memory of the daemon following one busy file."""
    seconds = 3 if args.quick else 10
    peak, now = rss_one_file(work, seconds)
    rows = [("RSS, one file at 2,000 lines/s, 250 ms", f"peak {peak:.1f} MiB, now {now:.1f} MiB", "VmHWM, VmRSS")]
    return rows, [("RSS one file <= 4 MiB (peak)", peak <= 4)]


# ---------------------------------------------------------------- one huge line

def long_line(work, mib):
    """Peak RSS (MiB) and whether every byte came out, for one huge line."""
    log = os.path.join(work, "long.log")
    with open(log, "wb") as f:
        chunk = b"x" * (1 << 20)
        for _ in range(mib):
            f.write(chunk)
        f.write(b"\n")
    out = os.path.join(work, "long.out")
    # A daemon, so its peak can be read from VmHWM before it exits: wait4's
    # ru_maxrss would also count the forked Python image it was exec'd from.
    p = subprocess.Popen([LC, "--no-fsync", "-s", os.path.join(work, "long-state"), "-o", out, log],
                         stderr=subprocess.DEVNULL)
    wait_size(out, mib * ((1 << 20) + 1))  # pieces of 1 MiB, each with a newline
    peak = status_kib(p.pid, "VmHWM") / 1024
    p.send_signal(signal.SIGTERM)
    p.wait()
    with open(out, "rb") as f:
        body = f.read().replace(b"\n", b"")
    ok = len(body) == mib << 20 and body.count(b"x") == len(body)
    os.remove(log)
    os.remove(out)
    return peak, ok


def section_longline(args, work):
    """One line far longer than --max-line-bytes: bounded memory, no loss."""
    mib = 64 if args.quick else 200
    peak, ok = long_line(work, mib)
    bound = MAX_LINE_MIB + 4
    rows = [(f"{mib} MiB line, default --max-line-bytes", f"peak RSS {peak:.1f} MiB",
             "no byte lost" if ok else "BYTES LOST")]
    return rows, [(f"{mib} MiB line RSS <= {bound} MiB ({MAX_LINE_MIB} MiB + 4 MiB), no byte lost",
                   peak <= bound and ok)]


# ---------------------------------------------------------------- patterns over a tree

GLOB_DIRS, GLOB_FILES_PER_DIR = 100, 10


def globs_idle(state, patterns, seconds, interval="250ms"):
    """CPU share of one core and RSS (MiB) of lc following the files that
    `patterns` match, idle, over `seconds` after catch-up;
    measured as `idle` measures it, with a service's default limits."""
    p = subprocess.Popen([LC, "-s", state, "-i", interval, "-o", "/dev/null"] + patterns,
                         stderr=subprocess.DEVNULL, preexec_fn=limit_fds)
    time.sleep(3)  # caught up, every directory listing settled
    if p.poll() is not None:
        raise RuntimeError(f"log-collector exited with {p.returncode} on {patterns[0]}...")
    before = cpu_seconds(p.pid)
    time.sleep(seconds)
    share = (cpu_seconds(p.pid) - before) / seconds * 100
    rss = status_kib(p.pid, "VmRSS") / 1024
    stop(p)
    return share, rss


def section_globs(args, work):
    """Idle cost of 1,000 files in 100 directories, matched by one `**`
    pattern (ROOT/**/*.log) and by one pattern per directory
    (ROOT/dNN/*.log), at 250 ms; the two alternate, 3 rounds, medians."""
    seconds = 5 if args.quick else 20
    root = os.path.join(work, "globs")
    for d in range(GLOB_DIRS):
        sub = os.path.join(root, f"d{d:02}")
        os.makedirs(sub)
        for f in range(GLOB_FILES_PER_DIR):
            with open(os.path.join(sub, f"f{d * GLOB_FILES_PER_DIR + f:04}.log"), "w") as out:
                out.write(f"line of file {d}/{f}\n")
    cases = {
        "one ** pattern": [os.path.join(root, "**", "*.log")],
        f"{GLOB_DIRS} patterns, one a directory": [os.path.join(root, f"d{d:02}", "*.log")
                                                   for d in range(GLOB_DIRS)],
    }
    res = {name: [] for name in cases}
    for rnd in range(3):
        for i, (name, patterns) in enumerate(cases.items()):
            state = os.path.join(work, f"globs-state-{rnd}-{i}")
            res[name].append(globs_idle(state, patterns, seconds))
    shutil.rmtree(root)
    files = GLOB_DIRS * GLOB_FILES_PER_DIR
    rows, share = [], {}
    for name, runs in res.items():
        share[name] = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        each = ", ".join(f"{r[0]:.2f}" for r in runs)
        rows.append((f"idle, {files:,} files in {GLOB_DIRS} dirs, 250 ms: {name}",
                     f"{share[name]:.2f}% CPU, {rss:.1f} MiB RSS", f"median of {each}"))
    any_depth, per_dir = share["one ** pattern"], share[f"{GLOB_DIRS} patterns, one a directory"]
    # Relative: the absolute cost is the idle section's (a stat per file).
    targets = [(f"idle, one ** <= 1.25x {GLOB_DIRS} patterns (+0.05 points)",
                any_depth <= per_dir * 1.25 + 0.05)]
    return rows, targets


# ---------------------------------------------------------------- main

def parse_only(text):
    """The --only list: comma-separated section names."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=512, help="size of the catch-up log (default 512)")
    ap.add_argument("--reps", type=int, default=5, help="catch-up repetitions (default 5)")
    ap.add_argument("--cost-reps", type=int, default=3,
                    help="runs of each idle and active case, lc and tail -F alternating (default 3)")
    ap.add_argument("--quick", action="store_true", help="shorter windows and a smaller huge line")
    ap.add_argument("--only", type=parse_only, default=list(SECTIONS),
                    help=f"comma-separated sections to run (default all): {','.join(SECTIONS)}")
    ap.add_argument("--dir", default=None, help="where to put the data (default: a temp dir)")
    args = ap.parse_args()
    for b in (LC, LOGGEN):
        if not os.path.exists(b):
            sys.exit(f"bench: {b} is missing; run `make release` first (or set LC_BENCH_BIN_DIR)")
    runners = {name: globals()[f"section_{name}"] for name in SECTIONS}
    work = tempfile.mkdtemp(prefix="lc-bench-", dir=args.dir)
    rows, targets = [], []
    try:
        for name in SECTIONS:
            if name in args.only:
                r, t = runners[name](args, work)
                rows += r
                targets += t
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nMachine: {os.cpu_count()} cores; sections: {', '.join(s for s in SECTIONS if s in args.only)}"
          + (f"; log {args.size_mib} MiB of loggen lines; {args.reps} repetitions (medians)" if "catchup" in args.only
             else "") + ".\n")
    print("| measurement | result | note |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print("\n| target | holds |\n|---|---|")
    for name, holds in targets:
        print(f"| {name} | {'yes' if holds else 'no'} |")


if __name__ == "__main__":
    main()
