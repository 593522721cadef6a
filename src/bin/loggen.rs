//! `loggen`: a synthetic log writer for testing and benchmarking `log-collector`.
//!
//! It appends realistic application or nginx access log lines to a file, either
//! paced at a steady wall-clock rate or as fast as possible, and can rotate the
//! file the way logrotate does (rename or copytruncate) while writing. All
//! content except timestamps comes from a seeded PRNG, so runs with the same
//! flags produce the same lines. `--seq` lets tests check that a collector saw
//! every line exactly once and in order; `--stamp` records the write time of
//! each line so a benchmark can measure follow latency.

use std::fmt::{self, Write as _};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use argh::FromArgs;

/// Lines are collected in a buffer and written with one `write` per burst, so a
/// reader never sees a partial line. At full speed the buffer is written out
/// once it reaches this size, which keeps the syscall count low.
const BUF_CAP: usize = 1 << 20;

/// Shortest sleep between paced bursts: at high rates it is cheaper (and the
/// OS timer is more honest) to write a few lines per wake-up than to sleep for
/// sub-millisecond gaps.
const MIN_TICK: Duration = Duration::from_millis(2);

#[derive(FromArgs)]
/// Append realistic log lines to FILE at a given rate, optionally rotating it.
struct Args {
    /// lines per second, paced by wall clock (0 = as fast as possible; default 10)
    #[argh(option, default = "10")]
    rate: u64,
    /// stop after this many lines (default 0 = no limit)
    #[argh(option, default = "0")]
    lines: u64,
    /// stop once at least this many bytes were written (default 0 = no limit)
    #[argh(option, default = "0")]
    bytes: u64,
    /// rotate FILE after every N lines (default 0 = never)
    #[argh(option, default = "0")]
    rotate_every: u64,
    /// number of rotated files FILE.1 .. FILE.K to keep (default 3)
    #[argh(option, default = "3")]
    keep: u32,
    /// rotation method: rename (default) or copytruncate
    #[argh(option, default = "RotateMode::Rename", from_str_fn(parse_rotate_mode))]
    rotate_mode: RotateMode,
    /// line style: app, nginx or mixed (default; alternates app and nginx)
    #[argh(option, default = "Style::Mixed", from_str_fn(parse_style))]
    style: Style,
    /// PRNG seed: the same seed gives the same lines apart from timestamps (default 1)
    #[argh(option, default = "1")]
    seed: u64,
    /// prefix each line with `ts=<unix time in microseconds> ` (its write time)
    #[argh(switch)]
    stamp: bool,
    /// prefix each line with `seq=<line number from 1> ` (after ts= if both)
    #[argh(switch)]
    seq: bool,
    /// the log file to append to (created if missing)
    #[argh(positional, arg_name = "FILE")]
    file: PathBuf,
}

/// How `rotate` moves the live file aside.
#[derive(Clone, Copy)]
enum RotateMode {
    Rename,
    CopyTruncate,
}

fn parse_rotate_mode(s: &str) -> Result<RotateMode, String> {
    match s {
        "rename" => Ok(RotateMode::Rename),
        "copytruncate" => Ok(RotateMode::CopyTruncate),
        _ => Err("expected rename or copytruncate".to_owned()),
    }
}

#[derive(Clone, Copy)]
enum Style {
    App,
    Nginx,
    Mixed,
}

fn parse_style(s: &str) -> Result<Style, String> {
    match s {
        "app" => Ok(Style::App),
        "nginx" => Ok(Style::Nginx),
        "mixed" => Ok(Style::Mixed),
        _ => Err("expected app, nginx or mixed".to_owned()),
    }
}

/// xorshift64*: tiny, fast and plenty random for fake log content.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // One splitmix64 step spreads small seeds (1, 2, ...) over all bits and
        // avoids the all-zero state, which xorshift can never leave.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough value in `lo..=hi` (modulo bias is irrelevant here).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// A UTC wall-clock time broken into calendar fields.
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    min: u64,
    sec: u64,
    milli: u64,
}

impl Utc {
    fn from_micros(us: u64) -> Self {
        let secs = us / 1_000_000;
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let sod = secs % 86_400;
        Utc {
            year,
            month,
            day,
            hour: sod / 3600,
            min: sod / 60 % 60,
            sec: sod % 60,
            milli: us / 1000 % 1000,
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`; avoids pulling in a date crate for one conversion.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn unix_micros() -> u64 {
    // A clock before 1970 is a broken system, not user input; clamp to 0.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "mallory", "trent",
];

// Message templates. Fields in braces are filled per line (see `expand`):
// `{lo-hi}` a number in that range (zero-padded to the width of `lo`),
// `{a|b|c}` one of the alternatives, `{hex}`/`{hex8}` 16/8 random hex digits,
// `{id}` and `{user}` one value per line so a message can repeat them.
const DEBUG_MSGS: &[&str] = &[
    "[cache] cache miss key=user:{id}:profile, loading from db shard={0-15} latency_ms={1-40}",
    "[cluster] heartbeat ok peers={2-9} queue_depth={0-300} gc_pause_ms={0-25} rss_mb={180-900}",
    "[db-pool] acquired connection active={1-32}/32 idle={0-16} wait_us={3-4000} caller=orders::repo::find_by_customer",
];
// INFO is the bulk of real logs, so it gets the most variety.
const INFO_MSGS: &[&str] = &[
    "[worker-{1-8}] order {id} shipped to warehouse {eu-west|eu-central|us-east|us-west|ap-south} in {5-250} ms user={user}",
    "[http] request completed method={GET|GET|POST|PUT} path=/api/v1/orders/{id} status=200 duration_ms={1-180} bytes={120-9000} request_id={hex}",
    "[auth] user {user} logged in from 203.0.113.{1-254} session={hex} mfa={true|false}",
    "[billing] payment {id} authorized amount={1-900}.{00-99} currency={EUR|USD|GBP} provider={stripe|adyen} user={user}",
    "[kafka-producer] flushed {1-500} events to topic orders.events partition={0-11} offset={1000000-9999999} in {1-60} ms",
    "[scheduler] job {nightly-report|cache-warmup|invoice-reminders} finished in {0-90}.{000-999} s processed={0-50000} skipped={0-200}",
];
const WARN_MSGS: &[&str] = &[
    "[db] slow query took {500-4000} ms: SELECT id, status, total FROM orders WHERE customer_id = {id} ORDER BY created_at DESC LIMIT 50",
    "[db-pool] retrying connection to pg-{1-3}.internal:5432 attempt={1-5}/5 backoff_ms={100-3200} error=\"connection refused\"",
    "[http] rate limited client=198.51.100.{1-254} path=/api/v1/search limit=100/min retry_after_s={1-60} user={user}",
];
const ERROR_MSGS: &[&str] = &[
    "[kafka-consumer] failed to process message topic=orders.events partition={0-11} offset={1000000-9999999}: connection reset by peer (os error 104)",
    "[billing] payment {id} declined by provider={stripe|adyen} code={card_declined|insufficient_funds|expired_card} user={user}",
    "[http] upstream inventory-service returned 503 after {1000-30000} ms, giving up after 3 retries request_id={hex}",
];
// nginx request lines; repeats weight the common ones.
const REQUESTS: &[&str] = &[
    "GET /api/v1/orders/{id}",
    "GET /api/v1/orders/{id}",
    "GET /api/v1/orders/{id}",
    "POST /api/v1/orders",
    "PUT /api/v1/orders/{id}",
    "GET /api/v1/users/{id}/profile",
    "GET /api/v1/search?q={shoes|red+dress|usb-c+cable|coffee|headphones}&page={1-5}",
    "GET /static/js/app.{hex8}.js",
    "GET /static/css/main.{hex8}.css",
    "GET /images/products/{id}.webp",
    "POST /login",
    "GET /favicon.ico",
    HEALTH_CHECK,
];
const HEALTH_CHECK: &str = "GET /healthz";
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
];
// Most API and asset requests carry no referer.
const REFERERS: &[&str] = &[
    "-",
    "-",
    "-",
    "https://shop.example.com/",
    "https://shop.example.com/cart",
    "https://www.google.com/",
];

/// Produces log lines; owns the PRNG so content is reproducible per seed.
struct Generator {
    rng: Rng,
    style: Style,
    stamp: bool,
    seq: bool,
}

impl Generator {
    /// Appends line number `n` (1-based) including its trailing newline. The
    /// clock is read per line just before its burst is written, so when paced
    /// (tiny bursts) `ts=` is the write time to within microseconds.
    fn push_line(&mut self, out: &mut String, n: u64) -> fmt::Result {
        let now = unix_micros();
        if self.stamp {
            write!(out, "ts={now} ")?;
        }
        if self.seq {
            write!(out, "seq={n} ")?;
        }
        let app = match self.style {
            Style::App => true,
            Style::Nginx => false,
            Style::Mixed => n % 2 == 1,
        };
        let t = Utc::from_micros(now);
        if app {
            self.app_line(out, &t)?;
        } else {
            self.nginx_line(out, &t)?;
        }
        out.push('\n');
        Ok(())
    }

    /// An application log line: ISO timestamp, level, [component], message.
    fn app_line(&mut self, out: &mut String, t: &Utc) -> fmt::Result {
        let (level, msgs) = match self.rng.range(0, 99) {
            0..=11 => ("DEBUG", DEBUG_MSGS),
            12..=85 => ("INFO", INFO_MSGS),
            86..=96 => ("WARN", WARN_MSGS),
            _ => ("ERROR", ERROR_MSGS),
        };
        write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {level:<5} ",
            t.year, t.month, t.day, t.hour, t.min, t.sec, t.milli
        )?;
        let template = self.rng.pick(msgs);
        self.expand(out, template)
    }

    /// An nginx "combined" access log line.
    fn nginx_line(&mut self, out: &mut String, t: &Utc) -> fmt::Result {
        let r = &mut self.rng;
        match r.range(0, 9) {
            0..=5 => write!(out, "203.0.113.{}", r.range(1, 254))?,
            6..=8 => write!(out, "198.51.100.{}", r.range(1, 254))?,
            _ => write!(out, "10.0.{}.{}", r.range(0, 3), r.range(2, 254))?,
        }
        let month = MONTHS[t.month as usize - 1];
        write!(
            out,
            " - - [{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000] \"",
            t.day, t.year, t.hour, t.min, t.sec
        )?;
        let request = r.pick(REQUESTS);
        // Health checks come from the orchestrator, not from browsers.
        let health = request == HEALTH_CHECK;
        let ua = if health {
            "kube-probe/1.31"
        } else {
            r.pick(USER_AGENTS)
        };
        self.expand(out, request)?;
        let r = &mut self.rng;
        let (status, size) = match r.range(0, 99) {
            _ if health => (200, 2),
            0..=79 => (200, r.range(120, 40_000)),
            80..=85 => (304, 0),
            86..=90 => (404, 153),
            91..=92 => (301, 169),
            93..=94 => (401, 67),
            95 => (499, 0),
            96..=97 => (500, 177),
            _ => (502, 157),
        };
        let proto = r.pick(&["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/2.0"]);
        let referer = r.pick(REFERERS);
        write!(out, " {proto}\" {status} {size} \"{referer}\" \"{ua}\"")
    }

    /// Appends `template` with its `{...}` fields filled in (syntax above the
    /// message tables). Templates are constants, so a malformed field is copied
    /// through verbatim rather than reported.
    fn expand(&mut self, out: &mut String, template: &str) -> fmt::Result {
        let r = &mut self.rng;
        let id = r.range(10_000, 99_999);
        let user = r.pick(USERS);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(len) = rest[open..].find('}') else {
                rest = &rest[open..];
                break;
            };
            let field = &rest[open + 1..open + len];
            rest = &rest[open + len + 1..];
            let range = field.split_once('-').and_then(|(lo, hi)| {
                Some((lo.len(), lo.parse::<u64>().ok()?, hi.parse::<u64>().ok()?))
            });
            match (field, range) {
                ("id", _) => write!(out, "{id}")?,
                ("user", _) => out.push_str(user),
                ("hex", _) => write!(out, "{:016x}", r.next())?,
                ("hex8", _) => write!(out, "{:08x}", r.next() >> 32)?,
                _ if field.contains('|') => {
                    let k = r.next() % field.split('|').count() as u64;
                    out.push_str(field.split('|').nth(k as usize).unwrap_or(field));
                }
                (_, Some((width, lo, hi))) => write!(out, "{:0width$}", r.range(lo, hi))?,
                _ => out.push_str(field),
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

/// `FILE` with a numeric suffix: `FILE.k`.
fn numbered(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{k}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Rotates like logrotate: shifts FILE.(k-1) -> FILE.k (the oldest falls off),
/// then moves the live file to FILE.1 by rename or by copy + truncate in place.
/// Returns the handle to keep writing to.
fn rotate(path: &Path, keep: u32, mode: RotateMode, file: File) -> io::Result<File> {
    let ignore_missing = |r: io::Result<()>| match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    };
    if keep > 0 {
        ignore_missing(fs::remove_file(numbered(path, keep)))?;
        for k in (1..keep).rev() {
            ignore_missing(fs::rename(numbered(path, k), numbered(path, k + 1)))?;
        }
    }
    match mode {
        RotateMode::Rename => {
            if keep > 0 {
                fs::rename(path, numbered(path, 1))?;
            } else {
                fs::remove_file(path)?;
            }
            // Close the old inode before creating the new file, as an
            // application reopening its log after SIGHUP would.
            drop(file);
            open_append(path)
        }
        RotateMode::CopyTruncate => {
            if keep > 0 {
                fs::copy(path, numbered(path, 1))?;
            }
            // O_APPEND makes the next write land at the new end, offset 0.
            file.set_len(0)?;
            Ok(file)
        }
    }
}

/// Number of lines due by `elapsed` at `rate` lines/s: line i (0-based) is due
/// at i / rate seconds, so deriving it from the start time never drifts.
fn due_lines(elapsed: Duration, rate: u64) -> u64 {
    (elapsed.as_nanos() * u128::from(rate) / 1_000_000_000) as u64 + 1
}

fn run(args: &Args) -> Result<(), String> {
    let path = &args.file;
    let shown = path.display();
    let mut file = open_append(path).map_err(|e| format!("open {shown}: {e}"))?;
    let mut generator = Generator {
        rng: Rng::new(args.seed),
        style: args.style,
        stamp: args.stamp,
        seq: args.seq,
    };
    let mut buf = String::with_capacity(BUF_CAP + 4096);
    let start = Instant::now();
    let (mut written, mut bytes, mut since_rotate) = (0u64, 0u64, 0u64);
    loop {
        // Lines allowed in this burst: everything due by now (unbounded at full
        // speed), but never past --lines or the next rotation point.
        let mut budget = if args.rate == 0 {
            u64::MAX
        } else {
            due_lines(start.elapsed(), args.rate) - written
        };
        if args.lines > 0 {
            budget = budget.min(args.lines - written);
        }
        if args.rotate_every > 0 {
            budget = budget.min(args.rotate_every - since_rotate);
        }
        let mut n = 0;
        while n < budget
            && buf.len() < BUF_CAP
            && (args.bytes == 0 || bytes + (buf.len() as u64) < args.bytes)
        {
            generator
                .push_line(&mut buf, written + n + 1)
                .map_err(|e| format!("format line: {e}"))?;
            n += 1;
        }
        if n > 0 {
            file.write_all(buf.as_bytes())
                .map_err(|e| format!("write {shown}: {e}"))?;
            written += n;
            since_rotate += n;
            bytes += buf.len() as u64;
            buf.clear();
        }
        let done =
            (args.lines > 0 && written >= args.lines) || (args.bytes > 0 && bytes >= args.bytes);
        if done {
            // No rotation after the last line: the live file keeps the newest lines.
            return Ok(());
        }
        if args.rotate_every > 0 && since_rotate == args.rotate_every {
            file = rotate(path, args.keep, args.rotate_mode, file)
                .map_err(|e| format!("rotate {shown}: {e}"))?;
            since_rotate = 0;
        }
        if args.rate > 0 {
            // Sleep until the next line is due (not a fixed interval), so time
            // spent writing or rotating does not make the rate drift.
            let next = start
                + Duration::from_nanos(
                    (u128::from(written) * 1_000_000_000 / u128::from(args.rate)) as u64,
                );
            let wait = next.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait.max(MIN_TICK));
            }
        }
    }
}

fn main() {
    let args: Args = argh::from_env();
    if let Err(msg) = run(&args) {
        eprintln!("loggen: {msg}");
        std::process::exit(1);
    }
}
