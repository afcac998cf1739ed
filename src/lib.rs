//! gitopsc: customer profiles in, deterministic Kubernetes manifests out.
//!
//! One module per pipeline stage (see docs/architecture.md):
//! load → layer → validate + check → model → emit → package → serialize → write.

pub mod audit;
pub mod check;
pub mod cidr;
pub mod cli;
pub mod compiler;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod layer;
pub mod link;
pub mod load;
pub mod model;
pub mod package;
pub mod patroni;
pub mod pgsettings;
pub mod profile;
pub mod scaffold;
pub mod serialize;
pub mod syntax;
pub mod terraform;
pub mod validate;
pub mod write;

/// `f` over `items` on `jobs` threads; results in the order of `items`, whatever `jobs`.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let jobs = jobs.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(index) else { break };
                        done.push((index, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, result)| result).collect()
}
