//! The spanned YAML loader on any bytes.
#![no_main]

mod located;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut diagnostics = Vec::new();
    let (_, node) = gitopsc::load::parse_bytes("fuzz.yaml".into(), data.to_vec(), &mut diagnostics);
    if let Some(node) = node {
        let _ = node.to_json();
    }
    located::check(&diagnostics);
});
