//! The checkpoint parser never panics, and what it accepts prints back to
//! text that parses to the same checkpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_collector::checkpoint::{parse, render};

fuzz_target!(|data: &[u8]| {
    if let Ok(cp) = parse(data, "fuzz") {
        let again = parse(&render(&cp), "fuzz").expect("rendered checkpoints parse");
        assert_eq!(again, cp);
    }
});
