//! Matching one name against one component of a pattern: the shell's `*`,
//! `?` and `[...]`, and the names a walk leaves out whatever the pattern
//! says (hidden ones, compressed rotated files).

/// Extensions of compressed rotated files. A pattern never picks these up:
/// their bytes are not text lines.
const COMPRESSED: &[&str] = &["gz", "xz", "zst", "bz2", "lz4", "zip", "Z"];

/// Whether a walk goes into a subdirectory by its name: hidden ones only for
/// a component that starts with a dot, as in the shell.
pub(super) fn dir_matches(pattern: &[u8], name: &[u8]) -> bool {
    (name.first() != Some(&b'.') || pattern.first() == Some(&b'.')) && glob_match(pattern, name)
}

/// Whether a directory entry is picked up by a file-name pattern: hidden names
/// only by a pattern that starts with a dot (as in the shell), and compressed
/// rotated files never.
pub fn name_matches(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    !is_compressed(name) && glob_match(pattern, name)
}

/// Whether a file name ends in the extension of a compressed file.
pub fn is_compressed(name: &[u8]) -> bool {
    match name.iter().rposition(|&b| b == b'.') {
        Some(dot) => COMPRESSED.iter().any(|c| c.as_bytes() == &name[dot + 1..]),
        None => false,
    }
}

/// Shell-style matching of one file name: `*` any run, `?` one character,
/// `[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]` one character of a class (a `]`
/// right after the opening bracket is literal; an unclosed `[` is literal).
/// Characters are UTF-8; a byte that is not valid UTF-8 counts as one character.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // Where the last `*` resumes in the pattern, and how far it has swallowed.
    let mut star: Option<(usize, usize)> = None;
    while s < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    p += 1;
                    star = Some((p, s));
                    continue;
                }
                b'?' => {
                    p += 1;
                    s += char_at(&name[s..]).1;
                    continue;
                }
                b'[' => {
                    if let Some((hit, plen)) = class(&pattern[p..], char_at(&name[s..]).0) {
                        if hit {
                            p += plen;
                            s += char_at(&name[s..]).1;
                            continue;
                        }
                    } else if name[s] == b'[' {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
                c => {
                    if c == name[s] {
                        p += 1;
                        s += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((resume, swallowed)) => {
                let next = swallowed + char_at(&name[swallowed..]).1;
                star = Some((resume, next));
                p = resume;
                s = next;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// The character at the start of `s` (a code point, or 0x110000 + byte for a
/// byte that is not valid UTF-8) and its length in bytes. `s` is not empty.
fn char_at(s: &[u8]) -> (u32, usize) {
    let len = match s[0] {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 0,
    };
    if len > 0 && len <= s.len() {
        if let Ok(text) = std::str::from_utf8(&s[..len]) {
            if let Some(c) = text.chars().next() {
                return (c as u32, len);
            }
        }
    }
    (0x11_0000 + u32::from(s[0]), 1)
}

/// Matches character `c` against the class at the start of `pattern` (which
/// starts with `[`). Returns whether it matched and the class's length, or
/// `None` if the class is not closed.
fn class(pattern: &[u8], c: u32) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let b = *pattern.get(i)?;
        if b == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let (lo, len) = char_at(&pattern[i..]);
        i += len;
        let is_range =
            pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|&b| b != b']');
        if is_range {
            let (hi, len) = char_at(&pattern[i + 1..]);
            i += 1 + len;
            hit |= lo <= c && c <= hi;
        } else {
            hit |= lo == c;
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_cases() {
        let yes: &[(&str, &str)] = &[
            ("*.log", "app.log"),
            ("*.log", ".log.log"),
            ("*", "x"),
            ("a*b*c", "aXbYbZc"),
            ("app.log*", "app.log"),
            ("app.log*", "app.log.1"),
            ("?.log", "é.log"),
            ("[abc].log", "b.log"),
            ("[a-c].log", "c.log"),
            ("[!a-c].log", "d.log"),
            ("[^a-c].log", "d.log"),
            ("[]x].log", "].log"),
            ("[é].log", "é.log"),
            ("[.log", "[.log"),
            ("**x", "abx"),
            ("a[-]b", "a-b"),
            ("a[x-]b", "a-b"),
        ];
        for (p, n) in yes {
            assert!(
                glob_match(p.as_bytes(), n.as_bytes()),
                "{p} should match {n}"
            );
        }
        let no: &[(&str, &str)] = &[
            ("*.log", "app.log.1"),
            ("?.log", "ab.log"),
            ("[abc].log", "d.log"),
            ("[!a-c].log", "a.log"),
            ("a*b", "a"),
            ("", "a"),
            ("x", ""),
            ("[a-c]", "é"),
        ];
        for (p, n) in no {
            assert!(
                !glob_match(p.as_bytes(), n.as_bytes()),
                "{p} should not match {n}"
            );
        }
        assert!(glob_match(b"*", b""));
        assert!(
            glob_match(b"?", b"\xff"),
            "an invalid byte is one character"
        );
        assert!(glob_match(b"a\xffb", b"a\xffb"));
    }

    #[test]
    fn hidden_and_compressed_names_are_left_out() {
        assert!(!name_matches(b"*", b".hidden"));
        assert!(name_matches(b".*", b".hidden"));
        assert!(!name_matches(b"app.log*", b"app.log.2.gz"));
        assert!(!name_matches(b"*", b"app.log-20261124.zst"));
        assert!(name_matches(b"app.log*", b"app.log-20261124"));
        assert!(!dir_matches(b"*", b".git"));
        assert!(dir_matches(b".*", b".git"));
        assert!(
            dir_matches(b"*", b"x.gz"),
            "a directory is not a compressed file"
        );
    }
}
