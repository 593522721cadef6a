//! The `log-collector` binary: parse the command line, set up logging, run
//! the collector, and turn its result into one stderr line and an exit status.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::exit;

use argh::FromArgs;
use log_collector::cli::{self, Args};
use log_collector::error::{Error, ExitCode};
use log_collector::settings::OutputSpec;
use log_collector::{collector, config, logging, signals, signals::Signals};

fn main() {
    // First of all: nothing may have opened a descriptor yet.
    let stdout_closed = stdout_was_closed();
    let status = match run(stdout_closed) {
        Ok(()) => ExitCode::Success,
        Err(e) => {
            // Never dropped: the stop clock stays quiet from here on.
            let _words = signals::last_words();
            eprint!("{}", e.report());
            e.exit_code()
        }
    };
    exit(status.code());
}

fn run(stdout_closed: bool) -> Result<(), Error> {
    let args = parse_args()?;
    if args.version {
        println!("log-collector {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // Config problems are returned, not logged, so the settings can come
    // first and `verbose = true` in the config file can set the log level.
    let settings = config::resolve(&args)?;
    if stdout_closed && settings.output == OutputSpec::Stdout {
        // The lines would go to /dev/null, and the checkpoint past them.
        return Err(Error::OutputGone {
            what: "stdout".into(),
            source: io::Error::other(
                "it was closed when log-collector started (or is /dev/null open \
                 read-write; -o /dev/null discards lines on purpose)",
            ),
        });
    }
    logging::init(settings.verbose);
    let signals = Signals::install().map_err(|e| Error::Io {
        context: "cannot install signal handlers".into(),
        source: e,
    })?;
    collector::run(settings, &|| config::resolve(&args), &signals)
}

/// Whether descriptor 1 was closed when the process was started.
///
/// It cannot be seen directly: before `main`, the Rust runtime opens
/// `/dev/null` read-write (`O_RDWR`) in place of each of descriptors 0, 1
/// and 2 that it finds closed (a `poll` answering `POLLNVAL`), so that a
/// file opened later cannot become stdout by accident. A stdout the parent
/// pointed at `/dev/null` on purpose is mostly write-only: a shell's
/// `>/dev/null`, `Stdio::null()`. So, as a heuristic, stdout counts as
/// closed when descriptor 1 is the `/dev/null` device open read-write. A
/// parent that hands over `/dev/null` open read-write (`daemon(3)`,
/// `1<>/dev/null`) is taken for a closed stdout too; nothing tells the two
/// apart (the runtime may also give several closed descriptors one open
/// file description, as `daemon(3)` does). The lines would go nowhere
/// either way; `-o /dev/null` discards them on purpose.
fn stdout_was_closed() -> bool {
    const STDOUT: i32 = 1;
    // SAFETY: F_GETFL on descriptor 1, no memory involved.
    let flags = unsafe { libc::fcntl(STDOUT, libc::F_GETFL) };
    if flags < 0 || flags & libc::O_ACCMODE != libc::O_RDWR {
        return false;
    }
    let Ok(null) = std::fs::metadata("/dev/null") else {
        return false;
    };
    // SAFETY: descriptor 1 is open (F_GETFL answered), and it is borrowed
    // only to be duplicated here.
    let stdout = unsafe { BorrowedFd::borrow_raw(STDOUT) };
    let Ok(stdout) = stdout.try_clone_to_owned() else {
        return false;
    };
    File::from(stdout).metadata().is_ok_and(|m| {
        m.file_type().is_char_device()
            && null.file_type().is_char_device()
            && m.rdev() == null.rdev()
    })
}

/// argh's `from_env` exits 1 on its own and refuses non-UTF-8 arguments; we
/// want exit 2 for usage errors, with a first line that names the problem.
fn parse_args() -> Result<Args, Error> {
    let words: Vec<String> = std::env::args_os().skip(1).map(cli::encode_arg).collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    match Args::from_args(&["log-collector"], &refs) {
        Ok(args) => Ok(args),
        Err(early) if early.status.is_ok() => {
            print!("{}", early.output);
            exit(ExitCode::Success.code());
        }
        Err(early) => Err(Error::Usage {
            message: early
                .output
                .trim()
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .to_string(),
            hint: Some("run log-collector --help for usage".into()),
        }),
    }
}
