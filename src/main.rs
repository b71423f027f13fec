//! The `promo-infra` binary: everything lives in the library ([`promo_infra::cli::run`]).

fn main() -> std::process::ExitCode {
    promo_infra::cli::run()
}
