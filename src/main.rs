fn main() -> std::process::ExitCode {
    trunkdiag::cli::main()
}
