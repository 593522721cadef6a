#!/usr/bin/env python3
"""Side-by-side benchmark of log-collector against cat, dd and GNU tail -F.

Runs every measurement several times in one run, on this machine, and prints
a Markdown table of medians, ratios and whether each target holds. Speed goals
live here, never in `cargo test`.

    make bench                      # 512 MiB log, 5 repetitions
    python3 bench/bench.py --size-mib 128 --reps 3 --quick
"""

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LC = os.path.join(ROOT, "target", "release", "log-collector")
LOGGEN = os.path.join(ROOT, "target", "release", "loggen")
TICK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def wait_size(path, size, deadline=120):
    end = time.time() + deadline
    while time.time() < end:
        try:
            if os.path.getsize(path) >= size:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{path} never reached {size} bytes")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def catch_up(work, log, size, reps):
    """Seconds to copy the whole log, per tool; medians over `reps`."""
    out = os.path.join(work, "out")
    state = os.path.join(work, "state")

    def fresh():
        shutil.rmtree(state, ignore_errors=True)
        if os.path.exists(out):
            os.remove(out)

    def shell(cmd):
        return lambda: run(cmd, shell=True, stderr=subprocess.DEVNULL)

    def daemon():
        with open(out, "wb") as f:
            p = subprocess.Popen([LC, "-s", state, "--no-fsync", log], stdout=f, stderr=subprocess.DEVNULL)
        wait_size(out, size)
        p.send_signal(signal.SIGTERM)
        p.wait()

    def tail_f():
        with open(out, "wb") as f:
            p = subprocess.Popen(["tail", "-n", "+1", "-F", "---disable-inotify", "-s", "0.25", log], stdout=f)
        wait_size(out, size)
        p.kill()
        p.wait()

    cases = {
        "cat": shell(f"cat {log} > {out}"),
        "dd bs=1M": shell(f"dd if={log} of={out} bs=1M status=none"),
        "dd bs=1M conv=fsync": shell(f"dd if={log} of={out} bs=1M conv=fsync status=none"),
        "tail -F (polling)": tail_f,
        "lc --once raw --no-fsync": shell(f"{LC} --once --no-fsync -s {state} {log} > {out}"),
        "lc --once raw (fsync)": shell(f"{LC} --once -s {state} -o {out} {log}"),
        "lc --once json --no-fsync": shell(f"{LC} --once --no-fsync --format json -s {state} {log} > {out}"),
        "lc daemon raw --no-fsync": daemon,
    }
    times = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            fresh()
            times[name].append(timed(fn))
    fresh()
    return {name: statistics.median(t) for name, t in times.items()}


def latency(work, interval_ms, seconds, rate, tool):
    """p50/p99/max milliseconds from a line's write (its ts=) to its arrival."""
    log = os.path.join(work, f"lat-{tool}-{interval_ms}.log")
    open(log, "w").close()
    state = os.path.join(work, f"lat-state-{tool}-{interval_ms}")
    if tool == "lc":
        cmd = [LC, "-s", state, "-i", f"{interval_ms}ms", "--no-fsync", log]
    else:
        cmd = ["tail", "-n", "+1", "-F", "---disable-inotify", "-s", str(interval_ms / 1000), log]
    reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    gen = subprocess.Popen([LOGGEN, "--rate", str(rate), "--stamp", "--lines", str(rate * seconds), log])
    lags = []
    while len(lags) < rate * seconds:
        line = reader.stdout.readline()
        if not line:
            break
        now = time.time() * 1e6
        if line.startswith(b"ts="):
            lags.append((now - int(line[3:].split(b" ", 1)[0])) / 1000)
    gen.wait()
    reader.kill()
    reader.wait()
    lags.sort()
    pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
    return pick(0.5), pick(0.99), lags[-1]


def idle(work, files, seconds, interval="250ms"):
    """CPU share of one core, RSS and descriptors with `files` idle files."""
    d = os.path.join(work, f"idle-{files}")
    os.makedirs(d, exist_ok=True)
    for i in range(files):
        with open(os.path.join(d, f"f{i:05}.log"), "w") as f:
            f.write(f"line of file {i}\n")
    state = os.path.join(work, f"idle-state-{files}")

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    p = subprocess.Popen([LC, "-s", state, "-i", interval, "-o", "/dev/null", os.path.join(d, "*.log")],
                         stderr=subprocess.DEVNULL, preexec_fn=limit)
    time.sleep(3)  # caught up
    before = cpu_seconds(p.pid)
    fds = 0
    end = time.time() + seconds
    while time.time() < end:
        fds = max(fds, len(os.listdir(f"/proc/{p.pid}/fd")))
        time.sleep(0.25)
    share = (cpu_seconds(p.pid) - before) / seconds * 100
    rss = status_kib(p.pid, "VmRSS") / 1024
    p.send_signal(signal.SIGTERM)
    p.wait()
    shutil.rmtree(d)
    return share, rss, fds


def long_line(work, mib):
    """Peak RSS (MiB) and whether every byte came out, for one huge line."""
    log = os.path.join(work, "long.log")
    with open(log, "wb") as f:
        chunk = b"x" * (1 << 20)
        for _ in range(mib):
            f.write(chunk)
        f.write(b"\n")
    out = os.path.join(work, "long.out")
    with open(out, "wb") as f:
        p = subprocess.Popen([LC, "--once", "--no-fsync", "-s", os.path.join(work, "long-state"), log],
                             stdout=f, stderr=subprocess.DEVNULL)
        # wait4 gives this child's own peak RSS.
        _, _, usage = os.wait4(p.pid, 0)
        p.returncode = 0
    peak = usage.ru_maxrss / 1024
    with open(out, "rb") as f:
        body = f.read().replace(b"\n", b"")
    ok = len(body) == mib << 20 and body.count(b"x") == len(body)
    os.remove(log)
    os.remove(out)
    return peak, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer files and shorter windows")
    ap.add_argument("--dir", default=None, help="where to put the data (default: a temp dir)")
    args = ap.parse_args()
    for b in (LC, LOGGEN):
        if not os.path.exists(b):
            sys.exit(f"bench: {b} is missing; run `make release` first")
    work = tempfile.mkdtemp(prefix="lc-bench-", dir=args.dir)
    try:
        log = os.path.join(work, "in.log")
        run([LOGGEN, "--rate", "0", "--bytes", str(args.size_mib << 20), log])
        size = os.path.getsize(log)
        run(["cat", log], stdout=subprocess.DEVNULL)  # into the page cache
        rows = []
        t = catch_up(work, log, size, args.reps)
        mib = size / (1 << 20)
        for name, secs in t.items():
            rows.append((f"catch-up {args.size_mib} MiB: {name}", f"{mib / secs:,.0f} MiB/s", f"{t['cat'] / secs:.2f}x cat"))
        seconds = 5 if args.quick else 15
        lat = {}
        for tool in ("lc", "tail"):
            for ms in (250, 50):
                lat[(tool, ms)] = latency(work, ms, seconds, 2000, tool)
                p50, p99, mx = lat[(tool, ms)]
                rows.append((f"follow latency {tool}, {ms} ms interval, 2,000 lines/s", f"p50 {p50:.0f} / p99 {p99:.0f} / max {mx:.0f} ms", ""))
        idle_files = (1000, 10000)
        idle_res = {}
        for n in idle_files:
            idle_res[n] = idle(work, n, 5 if args.quick else 20)
            share, rss, fds = idle_res[n]
            rows.append((f"idle, {n:,} files, 250 ms", f"{share:.2f}% CPU, {rss:.1f} MiB RSS", f"{fds} fds"))
        idle50 = idle(work, 1000, 5 if args.quick else 20, "50ms")
        rows.append(("idle, 1,000 files, 50 ms", f"{idle50[0]:.2f}% CPU", ""))
        peak, ok = long_line(work, 64 if args.quick else 200)
        rows.append((f"{64 if args.quick else 200} MiB line, default --max-line-bytes", f"peak RSS {peak:.1f} MiB", "no byte lost" if ok else "BYTES LOST"))

        targets = [
            ("raw --no-fsync >= 0.9x cat", t["lc --once raw --no-fsync"] <= t["cat"] / 0.9),
            ("raw fsync >= 0.9x dd conv=fsync", t["lc --once raw (fsync)"] <= t["dd bs=1M conv=fsync"] / 0.9),
            ("json >= 0.3x cat", t["lc --once json --no-fsync"] <= t["cat"] / 0.3),
            ("p99 latency <= 260 ms at 250 ms", lat[("lc", 250)][1] <= 260),
            ("p99 latency <= 60 ms at 50 ms", lat[("lc", 50)][1] <= 60),
            ("idle 1,000 files at 50 ms <= 2%", idle50[0] <= 2),
            ("idle 1,000 files <= 0.4%", idle_res[1000][0] <= 0.4),
            ("idle 10,000 files <= 3%, <= 64 fds", idle_res[10000][0] <= 3 and idle_res[10000][2] <= 64),
            ("RSS 10,000 files <= 12 MiB", idle_res[10000][1] <= 12),
            ("200 MiB line RSS <= 5 MiB (1 MiB + 4 MiB)", peak <= 5 and ok),
        ]
        print(f"\nMachine: {os.cpu_count()} cores; log {args.size_mib} MiB of loggen lines; {args.reps} repetitions (medians).\n")
        print("| measurement | result | note |\n|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} |")
        print("\n| target | holds |\n|---|---|")
        for name, holds in targets:
            print(f"| {name} | {'yes' if holds else 'no'} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
