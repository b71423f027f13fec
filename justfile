# promo-infra tasks. `just` lists them.
set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Install what tests and the demo need (apt packages, just, a running Docker engine).
setup:
    bash scripts/setup.sh

# The whole test suite (real Docker and InfluxDB 1.x where noted in README; doubles for Grafana / InfluxDB 2).
test:
    cargo test --workspace

# Compile every stack into generated/.
generate:
    cargo run -q -- generate

# Benchmarks, written into BENCHMARKS.md.
bench:
    cargo bench --bench generate
    cargo bench --bench backup

# Formatting, lints, tests and generated-file checks, as CI runs them.
ci:
    bash .ci/run

# Format the code.
fmt:
    cargo fmt --all
