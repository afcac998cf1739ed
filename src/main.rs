// Compiling is mostly building and dropping small JSON values and strings; mimalloc's
// thread-local free lists cut the CPU of a fleet render by a third (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gitopsc::cli::main()
}
