//! Writes a synthetic fleet of profiles: `cargo run --release --example fleet -- DIR COUNT`.

#[path = "../tests/support/fleet.rs"]
mod fleet;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(count)) = (args.next(), args.next().and_then(|c| c.parse().ok())) else {
        eprintln!("usage: fleet DIR COUNT");
        return std::process::ExitCode::from(2);
    };
    match fleet::write(std::path::Path::new(&dir), count) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write {dir}: {error}");
            std::process::ExitCode::from(2)
        }
    }
}
