//! The `log-collector` binary: parse the command line, set up logging, run
//! the collector, and turn its result into one stderr line and an exit status.

use std::process::exit;

use argh::FromArgs;
use log_collector::cli::{self, Args};
use log_collector::error::{Error, ExitCode};
use log_collector::{collector, config, logging, signals::Signals};

fn main() {
    let status = match run() {
        Ok(()) => ExitCode::Success,
        Err(e) => {
            eprintln!("log-collector: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("log-collector: hint: {hint}");
            }
            e.exit_code()
        }
    };
    exit(status.code());
}

fn run() -> Result<(), Error> {
    let args = parse_args()?;
    if args.version {
        println!("log-collector {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // Config problems are returned, not logged, so the settings can come
    // first and `verbose = true` in the config file can set the log level.
    let settings = config::resolve(&args)?;
    logging::init(settings.verbose);
    let signals = Signals::install().map_err(|e| Error::Io {
        context: "cannot install signal handlers".into(),
        source: e,
    })?;
    collector::run(settings, &|| config::resolve(&args), &signals)
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
