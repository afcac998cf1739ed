//! Stage 7: objects → bytes, the same bytes for the same objects on every machine.
//!
//! A small YAML writer of our own: block style, two-space indents, keys in the order the
//! typed objects define them, text quoted only where a YAML 1.1 or 1.2 reader could take it
//! for something else, multi-line text as literal blocks so diffs show real lines.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `sha256:<hex>` of some bytes.
pub fn digest(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in hash {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

/// One YAML document, ending with exactly one newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            write_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (key, value) in map {
        indent(out, level);
        write_string(out, key, level, true);
        out.push(':');
        write_child(out, value, level);
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // `- key: value` with the rest of the mapping aligned under the first key.
                out.push(' ');
                let mut first = true;
                for (key, value) in map {
                    if !first {
                        indent(out, level + 1);
                    }
                    first = false;
                    write_string(out, key, level + 1, true);
                    out.push(':');
                    write_child(out, value, level + 1);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, level + 1);
            }
            scalar => {
                out.push(' ');
                write_scalar(out, scalar, level + 1);
                out.push('\n');
            }
        }
    }
}

/// The value after `key:`: nested collections on the following lines, scalars inline.
fn write_child(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, level + 1);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, level + 1);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, level + 1);
            out.push('\n');
        }
    }
}

fn write_scalar(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, level, false),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn write_string(out: &mut String, text: &str, level: usize, is_key: bool) {
    if !is_key && literal_block_ok(text) {
        // `|` keeps a single final newline, `|-` strips it: both round-trip exactly.
        out.push_str(if text.ends_with('\n') { "|" } else { "|-" });
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, level);
                out.push_str(line);
            }
        }
    } else if plain_ok(text) {
        out.push_str(text);
    } else {
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    }
}

/// A literal block represents the text exactly: several lines, no trailing blank lines, no
/// leading space on the first line (it would set the indentation), printable characters.
fn literal_block_ok(text: &str) -> bool {
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\t'])
        && !body.contains('\r')
        && body
            .chars()
            .all(|ch| ch == '\n' || ch == '\t' || !ch.is_control())
        && !body.split('\n').any(|line| line.ends_with([' ', '\t']))
}

/// Text that every YAML reader (1.1 or 1.2) reads back as the same string when unquoted.
fn plain_ok(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if "-?:,[]{}#&*!|>'\"%@`~ \t".contains(first) {
        return false;
    }
    if text.ends_with([' ', ':', '\t'])
        || text.contains(": ")
        || text.contains(" #")
        || text.contains(['\n', '\r'])
    {
        return false;
    }
    if text.chars().any(|ch| ch.is_control() || ch == '\u{feff}') {
        return false;
    }
    const RESERVED: &[&str] = &[
        "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes",
        "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", "=",
        "<<",
    ];
    !RESERVED.contains(&text) && !looks_numeric(text) && !looks_like_date(text)
}

/// Numbers in YAML 1.1 or 1.2: decimal, octal, hex, binary, floats, `1_000`, `1:30`, `.inf`.
fn looks_numeric(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text).as_bytes();
    // Nothing numeric starts with a letter other than the `.inf`/`.nan` forms below.
    match body.first() {
        None => return false,
        Some(b'0'..=b'9' | b'.' | b'_' | b':') => {}
        Some(_) => return false,
    }
    if body.eq_ignore_ascii_case(b".inf") || body.eq_ignore_ascii_case(b".nan") {
        return true;
    }
    let prefixed = |prefix: &[u8], digit: fn(&u8) -> bool| {
        body.len() > 2
            && body[..2].eq_ignore_ascii_case(prefix)
            && body[2..].iter().all(|b| digit(b) || *b == b'_')
    };
    if body.len() > 2
        && body[0] == b'0'
        && matches!(body[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B')
    {
        return prefixed(b"0x", u8::is_ascii_hexdigit)
            || prefixed(b"0o", u8::is_ascii_digit)
            || prefixed(b"0b", u8::is_ascii_digit);
    }
    // Digits, `_`, `:` (sexagesimal), one `.`, and an exponent.
    let (mantissa, exponent) = match body.iter().position(|b| *b == b'e' || *b == b'E') {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let mantissa_ok = mantissa.iter().any(u8::is_ascii_digit)
        && mantissa
            .iter()
            .all(|b| b.is_ascii_digit() || b"_:.".contains(b))
        && mantissa.iter().filter(|b| **b == b'.').count() <= 1;
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e
            .strip_prefix(b"-")
            .or_else(|| e.strip_prefix(b"+"))
            .unwrap_or(e);
        !e.is_empty() && e.iter().all(u8::is_ascii_digit)
    });
    mantissa_ok && exponent_ok
}

/// YAML 1.1 timestamps (`2001-12-14`) would be read as dates by some tools.
fn looks_like_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 8 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}
