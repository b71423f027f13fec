#!/usr/bin/env bash
# Sets a Debian 12 machine up for promo-infra, then installs `promo-infra` and `just` on PATH.
#
#   bash scripts/setup.sh          what a user needs: Docker engine (started when no socket
#                                  answers), docker-compose, InfluxDB 1.x, busybox-static (local
#                                  images), flock; `just`; `promo-infra` in /usr/local/bin
#   bash scripts/setup.sh --test   the same, plus what only the tests need: Chromium and
#                                  ChromeDriver (STOP page in a real browser), python3 (stand-in
#                                  k6), systemd-analyze (unit checks), Node.js (the example k6
#                                  script's syntax check)
#
# Needs: root (apt-get, dockerd, /usr/local/bin), and Rust (cargo, rustc >= the version below).
# Idempotent: what is present is not installed again. PROMO_INFRA_PROFILE=debug installs a debug
# build of promo-infra instead of a release build (faster to build; used by the quickstart check).
set -euo pipefail
cd "$(dirname "$0")/.."

RUST_MIN=1.95   # the toolchain promo-infra is built and tested with (`rustc --version`)

test_deps=false
for arg in "$@"; do
  case $arg in
    --test) test_deps=true ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "setup: unknown option \`$arg\` (use --test for the test dependencies)" >&2; exit 1 ;;
  esac
done

fail() { echo "setup: $1" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs Debian packages and starts dockerd): sudo bash scripts/setup.sh"
command -v apt-get >/dev/null || fail "apt-get not found: this script supports Debian 12 (bookworm); see README \"Quickstart\" for what to install by hand"
if [ -r /etc/os-release ] && ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "setup: warning: this is not Debian 12 (bookworm); continuing with apt-get" >&2
fi
# cargo from rustup lives in ~/.cargo/bin, which a fresh root shell may not have on PATH.
[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ] && export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
command -v cargo >/dev/null || fail "cargo not found: install Rust $RUST_MIN or newer (https://rustup.rs), then re-run"
rust_version=$(rustc --version | awk '{print $2}')
if [ "$(printf '%s\n%s\n' "$RUST_MIN" "$rust_version" | sort -V | head -1)" != "$RUST_MIN" ]; then
  fail "rustc $rust_version is older than $RUST_MIN: run \`rustup update stable\`, then re-run"
fi

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v influxd >/dev/null || need_apt+=(influxdb)
command -v influx >/dev/null || need_apt+=(influxdb-client)
{ [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget; } || need_apt+=(busybox-static)
command -v flock >/dev/null || need_apt+=(util-linux)
# Building promo-infra links with cc; cargo fetches over https.
command -v cc >/dev/null || need_apt+=(gcc libc6-dev)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_apt+=(ca-certificates)
if $test_deps; then
  # The STOP page is tested in a real headless browser (control API tests).
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
  # The stand-in k6 of the k6/control-API tests is a Python script.
  command -v python3 >/dev/null || need_apt+=(python3)
  command -v systemd-analyze >/dev/null || need_apt+=(systemd)
  # examples/checkout.js is syntax-checked with `node --check` (k6 scripts are ES modules).
  command -v node >/dev/null || need_apt+=(nodejs)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# just: not packaged in Debian 12; built from crates.io with the Rust toolchain already here.
if ! command -v just >/dev/null; then
  echo "setup: cargo install just (into /usr/local)"
  cargo install --quiet --locked --root /usr/local just
fi

# promo-infra on PATH, so the README's examples run as written.
profile=${PROMO_INFRA_PROFILE:-release}
case $profile in
  release) cargo build --quiet --locked --release --bin promo-infra ;;
  debug) cargo build --quiet --locked --bin promo-infra ;;
  *) fail "PROMO_INFRA_PROFILE must be release or debug, not \`$profile\`" ;;
esac
install -m 0755 "${CARGO_TARGET_DIR:-target}/$profile/promo-infra" /usr/local/bin/promo-infra
echo "setup: installed /usr/local/bin/promo-infra ($profile build, $(/usr/local/bin/promo-infra --version))"

# The Docker engine: start it in the background when nothing answers on the socket.
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  nohup dockerd >/tmp/promo-infra-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /tmp/promo-infra-dockerd.log" >&2; tail -20 /tmp/promo-infra-dockerd.log >&2; exit 1; }
fi
echo "setup: ready (docker $(docker version --format '{{.Server.Version}}'), $(influxd version 2>/dev/null | head -1), just $(just --version | cut -d' ' -f2))"
