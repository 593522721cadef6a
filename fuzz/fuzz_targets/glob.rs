//! The file-name matcher never panics, and a pattern without wildcards
//! matches exactly itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_collector::discover::{glob_match, name_matches};

fuzz_target!(|data: &[u8]| {
    let (pattern, name) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let hit = glob_match(pattern, name);
    let _ = name_matches(pattern, name);
    if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
        assert_eq!(hit, pattern == name);
    }
    assert!(glob_match(b"*", name));
});
