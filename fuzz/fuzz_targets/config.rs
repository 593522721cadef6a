//! The config parser and the value parsers never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use log_collector::config::{parse_duration, parse_reader, parse_size};

fuzz_target!(|data: &[u8]| {
    let _ = parse_reader(data, "fuzz.conf", Path::new("/etc"));
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = parse_duration(text) {
            assert!(d.as_millis() >= 1 && d.as_millis() <= 3_600_000);
        }
        if let Ok(n) = parse_size(text) {
            assert!(n >= 1);
        }
    }
});
