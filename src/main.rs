fn main() -> std::process::ExitCode {
    gitopsc::cli::main()
}
