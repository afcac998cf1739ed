//! gitopsc: customer profiles in, deterministic Kubernetes manifests out.
//!
//! One module per pipeline stage (see docs/architecture.md):
//! load → layer → validate → model → check → emit → link → terraform → package → write.

// The modules in stage order: each may use only the modules above it (a test reads this
// list and every `crate::` path in src/). Shared leaves first, then the stages as a profile
// goes through them, then what reads their results, then the command line.
pub mod diag;
pub mod cidr;
pub mod serialize;
pub mod syntax;
pub mod load;
pub mod profile;
pub mod prerequisite;
pub mod pgsettings;
pub mod patroni;
pub mod layer;
pub mod validate;
pub mod model;
pub mod check;
pub mod emit;
pub mod link;
pub mod terraform;
pub mod package;
pub mod write;
pub mod guard;
pub mod compiler;
pub mod diff;
pub mod audit;
pub mod scaffold;
pub mod cli;

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
