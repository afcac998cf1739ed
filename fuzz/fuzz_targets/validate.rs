//! The whole pipeline on one profile and one layer: the input is the layer, a line `%%%`,
//! then the profile, written as `_defaults.yaml` and `profile.yaml` in a fresh folder (the
//! shipped profiles extend `_defaults.yaml`).
#![no_main]

mod located;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (layer, profile) = match data.windows(5).position(|w| w == b"\n%%%\n") {
        Some(at) => (&data[..at + 1], &data[at + 5..]),
        None => (&b""[..], data),
    };
    let dir = std::env::temp_dir().join(format!("gitopsc-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("_defaults.yaml"), layer).expect("write layer");
    std::fs::write(dir.join("profile.yaml"), profile).expect("write profile");
    let fleet = gitopsc::compiler::compile_each(&[dir.join("profile.yaml")], 1, None, &|_, _, _| None);
    located::check(&fleet.diagnostics);
});
