#!/usr/bin/env bash
# `just images`: build, without any registry, the images a local stack needs
# (tests/fixtures/stacks/local.yaml):
#   promo-infra-influxdb:<influxd version>-local  real InfluxDB 1.6 from Debian's influxdb package
#   promo-infra:<crate version>                    promo-infra itself (its control API)
#   promo-infra-grafana-double:<crate version>     the Grafana API test double (tests/doubles) — a double, not Grafana
#   promo-infra-influxdb2-double:<crate version>   the InfluxDB 2 API test double (tests/doubles) — a double, not InfluxDB
# Each is FROM scratch: the binary, the libraries `ldd` lists, and busybox (busybox-static) for
# the shell and the wget of the health checks. Binaries are built with the `debug` cargo profile
# unless PROFILE=release; PROMO_INFRA_BIN=/path uses that promo-infra binary instead of building
# one (the tests pass the binary under test). Docker's build cache makes a re-run with unchanged
# inputs fast.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-debug}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cargo_flags=(--quiet)
[ "$profile" = release ] && cargo_flags+=(--release)
target_dir=${CARGO_TARGET_DIR:-target}

command -v docker >/dev/null || { echo "images: docker is not installed; run \`just setup\`" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "images: no Docker engine answers; run \`just setup\` (starts dockerd)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "images: /bin/busybox missing; apt-get install busybox-static (or \`just setup\`)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# add_binary ROOTFS SOURCE DEST: the binary (stripped when possible) and the libraries ldd lists.
add_binary() {
  local rootfs=$1 src=$2 dest=$3
  mkdir -p "$rootfs$(dirname "$dest")"
  if command -v strip >/dev/null; then
    strip -o "$rootfs$dest" "$src"
  else
    cp "$src" "$rootfs$dest"
  fi
  ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

# context NAME: a fresh build context with the image's files and busybox.
context() {
  local ctx=$work/$1
  mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc"
  chmod 1777 "$ctx/rootfs/tmp"
  cp /bin/busybox "$ctx/rootfs/bin/busybox"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
  cp "images/$1/Dockerfile" "$ctx/Dockerfile"
  echo "$ctx"
}

build() {
  local ctx=$1 tag=$2 version_label=$3
  if ! docker build -q --label "org.opencontainers.image.version=$version_label" -t "$tag" "$ctx" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "images: building $tag failed" >&2
    exit 1
  fi
  echo "images: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
}

# InfluxDB 1.6 (real).
influx_version=$(influxd version | sed -n 's/^InfluxDB v\([0-9.]*\).*/\1/p')
ctx=$(context influxdb)
add_binary "$ctx/rootfs" "$(command -v influxd)" /usr/bin/influxd
add_binary "$ctx/rootfs" "$(command -v influx)" /usr/bin/influx
mkdir -p "$ctx/rootfs/etc/influxdb" "$ctx/rootfs/var/lib/influxdb" "$ctx/rootfs/docker-entrypoint-initdb.d"
cp images/influxdb/influxdb.conf "$ctx/rootfs/etc/influxdb/influxdb.conf"
cp images/influxdb/entrypoint.sh "$ctx/rootfs/entrypoint.sh"
chmod 755 "$ctx/rootfs/entrypoint.sh"
build "$ctx" "promo-infra-influxdb:${influx_version}-local" "$influx_version"

# promo-infra (the control API).
if [ -n "${PROMO_INFRA_BIN:-}" ]; then
  promo_infra_bin=$PROMO_INFRA_BIN
else
  cargo build "${cargo_flags[@]}" --bin promo-infra
  promo_infra_bin=$target_dir/$profile/promo-infra
fi
ctx=$(context promo-infra)
add_binary "$ctx/rootfs" "$promo_infra_bin" /usr/local/bin/promo-infra
build "$ctx" "promo-infra:${version}" "$version"

# The Grafana API double (tests/doubles): a double, named as one.
if [ -f tests/doubles/src/bin/grafana-double.rs ]; then
  cargo build "${cargo_flags[@]}" -p promo-doubles --bin grafana-double
  ctx=$(context grafana-double)
  add_binary "$ctx/rootfs" "$target_dir/$profile/grafana-double" /usr/local/bin/grafana-double
  mkdir -p "$ctx/rootfs/etc/grafana/provisioning" "$ctx/rootfs/var/lib/grafana" "$ctx/rootfs/usr/share/grafana"
  : >"$ctx/rootfs/etc/grafana/grafana.ini"
  build "$ctx" "promo-infra-grafana-double:${version}" "$version"
else
  echo "images: tests/doubles has no grafana-double binary yet; promo-infra-grafana-double:${version} not built" >&2
  exit 1
fi

# The InfluxDB 2 API double (tests/doubles): a double, named as one; `influx ping` for the
# health check of an InfluxDB 2 service is a busybox wget script.
cargo build "${cargo_flags[@]}" -p promo-doubles --bin influxdb2-double
ctx=$(context influxdb2-double)
add_binary "$ctx/rootfs" "$target_dir/$profile/influxdb2-double" /usr/local/bin/influxdb2-double
install -m 0755 images/influxdb2-double/influx "$ctx/rootfs/usr/local/bin/influx"
build "$ctx" "promo-infra-influxdb2-double:${version}" "$version"
