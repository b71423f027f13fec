//! The `promo-infra` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    promo_infra::cli::main()
}
