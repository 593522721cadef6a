//! The splitter and encoders, fed the same bytes in arbitrary chunks, give
//! the same output as when fed all at once; raw output holds every complete
//! line exactly; every json line parses and says what the raw line says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_collector::settings::Format;
use log_collector::encode::{Encoder, Shared};
use log_collector::lines::split;

/// Feeds `input` as it grows to the given lengths, re-reading the unfinished
/// rest each time through a buffer of `cap` bytes, like the collector does.
fn run(input: &[u8], ends: &[usize], max: usize, cap: usize, format: Format) -> Vec<u8> {
    let encoder = Encoder::new(format, b"/var/log/f\xff.log");
    let shared = Shared::new(b"h\"ost\xfe", &[("env", "pr\x01od")]);
    let mut out = Vec::new();
    let (mut offset, mut after_cut) = (0usize, false);
    for &end in ends.iter().chain(std::iter::once(&input.len())) {
        let end = end.min(input.len()).max(offset);
        loop {
            let stop = end.min(offset + cap);
            let s = split(
                &input[offset..stop],
                offset as u64,
                max,
                after_cut,
                |chunk| {
                    encoder.encode(chunk, &shared, &mut out);
                },
            );
            offset += s.consumed;
            after_cut = s.after_cut;
            if s.consumed == 0 || offset >= end {
                break;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = 1 + data[0] as usize % 16;
    let cap = max + 1 + data[1] as usize % 16;
    let cuts = (data[2] % 8) as usize;
    let (cut_bytes, input) = data[3..].split_at(cuts.min(data.len() - 3));
    let mut ends: Vec<usize> = cut_bytes
        .iter()
        .map(|&b| b as usize * input.len() / 256)
        .collect();
    ends.sort_unstable();

    let whole = run(input, &[], max, input.len() + max + 1, Format::Raw);
    assert_eq!(run(input, &ends, max, cap, Format::Raw), whole);
    // With no long lines, raw output is the input up to its last newline.
    let longest = input
        .split(|&b| b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    if longest < max {
        let last = input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        assert_eq!(whole, &input[..last]);
    }

    let json = run(input, &ends, max, cap, Format::Json);
    assert_eq!(
        json,
        run(input, &[], max, input.len() + max + 1, Format::Json)
    );
    let text = std::str::from_utf8(&json).expect("json output is UTF-8");
    let raw_lines: Vec<&[u8]> = whole.split_inclusive(|&b| b == b'\n').collect();
    let json_lines: Vec<&str> = text.lines().collect();
    assert_eq!(raw_lines.len(), json_lines.len());
    for (raw, line) in raw_lines.iter().zip(json_lines) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json parses");
        let body = &raw[..raw.len() - 1];
        assert_eq!(v["line"].as_str().unwrap(), String::from_utf8_lossy(body));
        let offset = v["offset"].as_u64().unwrap() as usize;
        assert!(input[offset..].starts_with(body));
    }
});
