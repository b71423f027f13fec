# promo-infra tasks. `just` lists them.
set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Set this Debian machine up for users (apt packages, a running Docker engine, just, promo-infra on PATH). Root.
setup:
    bash scripts/setup.sh

# The same plus what only the tests need (Chromium, ChromeDriver, python3, systemd-analyze). Root.
setup-test:
    bash scripts/setup.sh --test

# Build promo-infra and install it as /usr/local/bin/promo-infra (release build). Root.
install:
    cargo build --locked --release --bin promo-infra
    install -m 0755 target/release/promo-infra /usr/local/bin/promo-infra

# Check the README quickstart in a fresh Debian 12 chroot (debootstrap; root; see README "Quickstart").
check-quickstart:
    bash scripts/check-quickstart.sh

# The whole test suite (real Docker and InfluxDB 1.x where noted in README; doubles for Grafana / InfluxDB 2).
# Rebuilds the local images first, so the engine tests always run today's binary.
test: images
    cargo test --workspace

# Compile every stack into generated/.
generate:
    cargo run -q -- generate

# Benchmarks, written into BENCHMARKS.md (docker: side by side with docker-compose up -d; needs the engine).
bench:
    cargo bench --bench generate
    cargo bench --bench docker
    cargo bench --bench backup
    cargo bench --bench dashboards
    cargo bench --bench cloud

# Build the local images (real InfluxDB 1.6, promo-infra, the Grafana API double) that tests/fixtures/stacks/local.yaml uses.
images:
    bash scripts/images.sh

# The main job on a machine without a registry: build the local images, apply the local stack on Docker, print its status.
demo: images
    cargo run -q -- -f tests/fixtures/stacks/local.yaml apply --auto-approve
    cargo run -q -- -f tests/fixtures/stacks/local.yaml status

# Formatting, lints, tests and generated-file checks, as CI runs them.
ci:
    bash .ci/run

# Parse and type-check every generated Flux query with InfluxData's flux-lsp (WASM), as Grafana 10.2 sends it.
# Installs the pinned npm packages into scripts/flux-check/node_modules when missing or stale.
flux-check:
    cd scripts/flux-check && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }
    node scripts/flux-check/check.js --selftest
    node scripts/flux-check/check.js

# Format the code.
fmt:
    cargo fmt --all

# Fuzz the manifest loader and compiler: CASES mutated manifests (proptest), at most 20 minutes.
fuzz CASES="20000":
    PROPTEST_CASES={{CASES}} timeout 1200 cargo test --test it fuzz:: -- --nocapture
