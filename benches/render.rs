//! Render cost for one customer and for a generated fleet of 1,000 (docs/performance.md).
//!
//! `cargo bench --bench render`. The profiles are written to a temp folder first; each
//! iteration loads, layers, validates, emits and serialises them all in memory, or compares
//! them with an `out/` already on disk (`render --check`).

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use gitopsc::package::Format;

#[path = "../tests/support/fleet.rs"]
mod fleet;

fn fleet(count: usize) -> (PathBuf, Vec<PathBuf>) {
    let dir = std::env::temp_dir().join(format!("gitopsc-bench-{}-{count}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    fleet::write(&dir, count).expect("write fleet");
    let files = gitopsc::compiler::discover(std::slice::from_ref(&dir))
        .expect("discover")
        .files;
    (dir, files)
}

fn bench(c: &mut Criterion) {
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for count in [1, 1000] {
        let (dir, files) = fleet(count);
        group.bench_function(format!("{count} customers"), |b| {
            b.iter(|| {
                let fleet = gitopsc::compiler::compile(&files, jobs);
                assert!(!fleet.has_errors());
                fleet.customers.len()
            })
        });
        if count == 1000 {
            let outputs: Vec<_> = gitopsc::compiler::compile(&files, jobs)
                .customers
                .into_iter()
                .filter_map(|c| c.output)
                .collect();
            let out = dir.join("out");
            gitopsc::write::write(&out, &outputs, Format::Kustomize, true, false, jobs)
                .expect("write");
            group.bench_function("check 1000 customers unchanged", |b| {
                b.iter(|| {
                    let outputs: Vec<_> = gitopsc::compiler::compile(&files, jobs)
                        .customers
                        .into_iter()
                        .filter_map(|c| c.output)
                        .collect();
                    assert!(
                        gitopsc::write::check(&out, &outputs, Format::Kustomize, true, jobs)
                            .expect("check")
                            .is_empty()
                    );
                })
            });
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
