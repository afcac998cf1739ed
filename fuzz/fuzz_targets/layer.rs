//! Layer merging: the input is up to four documents separated by a line `%%%`, each merged
//! over the one before, as `extends` merges a profile over its layers.
#![no_main]

mod located;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut diagnostics = Vec::new();
    let mut merged = None;
    for (index, document) in split(data).into_iter().enumerate().take(4) {
        let path = format!("layer-{index}.yaml").into();
        let (_, node) = gitopsc::load::parse_bytes(path, document.to_vec(), &mut diagnostics);
        merged = match (merged, node) {
            (Some(base), Some(over)) => Some(gitopsc::layer::merge(base, over)),
            (base, over) => over.or(base),
        };
    }
    if let Some(node) = merged {
        let _ = node.to_json();
    }
    located::check(&diagnostics);
});

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(5).position(|w| w == b"\n%%%\n") {
        parts.push(&rest[..at + 1]);
        rest = &rest[at + 5..];
    }
    parts.push(rest);
    parts
}
