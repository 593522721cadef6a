//! log-collector: a polling log file collector. The binary in `main.rs` is a
//! thin shell over these modules; data flows one way through them:
//! discover -> identity -> tracker -> lines -> encode -> output -> checkpoint,
//! with `collector` the only module that calls the others.

pub mod checkpoint;
pub mod cli;
pub mod collector;
pub mod config;
pub mod discover;
pub mod encode;
pub mod error;
pub mod identity;
pub mod lines;
pub mod logging;
// 64-bit only: its SIGBUS recovery is untested on 32-bit ARM.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    target_pointer_width = "64"
))]
pub mod mapped;
pub mod notify;
pub mod output;
pub mod reserved;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod tracker;
