//! Integration tests: one binary, one module per topic. Each test runs the
//! built collector against real files in a temp dir and checks its output
//! byte for byte.

mod util;

mod bulk;
mod checkpoint;
mod cli;
mod delivery;
mod exit_codes;
mod faults;
mod fields;
mod globs;
mod hygiene;
mod idle;
mod lifecycle;
mod logrotate;
mod model;
mod newcomer;
mod no_hang;
mod notify;
mod operator_config;
mod operator_messages;
mod operator_stats;
mod output;
mod ownership;
mod recycle;
mod regression;
mod rotation;
mod rotation_styles;
mod salvage;
mod scale;
mod service;
mod signals;
mod smoke;
mod stats;
mod torture;
