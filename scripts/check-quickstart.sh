#!/usr/bin/env bash
# Checks the README quickstart on a clean Debian 12: debootstrap a minimal bookworm from Debian's
# mirror into a temporary directory, put a clone of this repository (committed files) and the
# Rust toolchain in it, and run the README's quickstart commands verbatim in a chroot, as root.
#
# Borrowed from the host (a chroot has no init and cannot run a second dockerd), announced below:
#   - the Docker engine: the host's /run/docker.sock is bind-mounted;
#   - /proc, /sys, /dev, /dev/pts are mounted; /etc/resolv.conf is copied;
#   - the Rust toolchain: ~/.rustup bind-mounted read-only, ~/.cargo/bin (rustup's proxies) copied;
#   - the host's local CA certificates (/usr/local/share/ca-certificates: a build machine whose
#     egress re-signs TLS needs them for crates.io), picked up when setup installs ca-certificates;
#   - usr/sbin/policy-rc.d refuses service starts during apt-get (standard for chroots);
#   - the clone and TMPDIR live at the same absolute paths on the host and in the chroot, since
#     the host's engine resolves bind-mount sources (generated files) on the host.
# Environment:
#   QUICKSTART_RELEASE=1  build promo-infra in release as a user would (default: debug, since the
#                         shared build machines forbid release builds)
#   QUICKSTART_TESTS=1    also run the second quickstart command (setup --test, just test)
#   KEEP=1                keep the chroot (its path is printed); otherwise it is removed
#   MIRROR=URL            Debian mirror (default http://deb.debian.org/debian)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "check-quickstart: $*"; }
fail() { echo "check-quickstart: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, mount, chroot)"
[ -S /run/docker.sock ] || fail "no Docker engine socket at /run/docker.sock on the host (start dockerd first)"
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
[ -d "$rustup_home/toolchains" ] && [ -x "$cargo_bin/cargo" ] || fail "no rustup toolchain in $rustup_home / $cargo_bin"
for port in 38086 33000 35000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is in use: the demo stack (tests/fixtures/stacks/local.yaml) needs it"
  fi
done
if ! command -v debootstrap >/dev/null; then
  say "apt-get install debootstrap (host)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The quickstart commands, verbatim from the README's first sh block after "## Quickstart".
mapfile -t commands < <(awk '/^## Quickstart/{q=1} q&&/^```sh/{b=1;next} b&&/^```/{exit} b{print}' "$repo/README.md" | sed 's/[[:space:]]*#.*$//' | grep -v '^[[:space:]]*$')
[ ${#commands[@]} -ge 2 ] || fail "could not find the two quickstart commands in README.md"
run=("${commands[0]}")
[ "${QUICKSTART_TESTS:-0}" = 1 ] && run+=("${commands[1]}")

root=$(mktemp -d /var/tmp/promo-infra-quickstart.XXXXXX)
work=
tmpd=
mounts=()
cleanup() {
  set +e
  if [ -x "$root/usr/local/bin/promo-infra" ] && [ -S "$root/run/docker.sock" ]; then
    say "removing the demo stack"
    chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin bash -c \
      "cd $work && promo-infra -f tests/fixtures/stacks/local.yaml destroy --volumes --auto-approve" >/dev/null 2>&1
  fi
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}"; done
  if [ "${KEEP:-0}" = 1 ]; then say "kept $root, $work and $tmpd"; else rm -rf --one-file-system "$root" ${work:+"$work"} ${tmpd:+"$tmpd"}; fi
}
trap cleanup EXIT
mnt() { mount "$@"; mounts+=("${@: -1}"); }

mirror=${MIRROR:-http://deb.debian.org/debian}
say "debootstrap --variant=minbase bookworm $root $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
  || { tail -20 "$root.debootstrap.log" >&2; fail "debootstrap failed (log: $root.debootstrap.log)"; }
rm -f "$root.debootstrap.log"

say "host parts: /proc /sys /dev, the Docker socket, resolv.conf, the Rust toolchain (read-only)"
mnt -t proc proc "$root/proc"
mnt --rbind /sys "$root/sys"
mnt --rbind /dev "$root/dev"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
touch "$root/run/docker.sock"
mnt --bind /run/docker.sock "$root/run/docker.sock"
mkdir -p "$root/root/.rustup" "$root/root/.cargo/bin"
mnt --bind "$rustup_home" "$root/root/.rustup"
mount -o remount,bind,ro "$root/root/.rustup"
cp -a "$cargo_bin/." "$root/root/.cargo/bin/"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  say "host CA certificates: $(cd /usr/local/share/ca-certificates && echo *.crt)"
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# The clone lives at the same absolute path on the host and in the chroot: the host's engine
# resolves the stack's bind-mount sources (generated/<stack>/...) on the host.
work=$(mktemp -d /var/tmp/promo-infra-quickstart-clone.XXXXXX)
say "git clone $(git -C "$repo" rev-parse --short HEAD) into $work (same path in the chroot)"
git clone --quiet "$repo" "$work"
mkdir -p "$root$work"
mnt --bind "$work" "$root$work"

# Temporary files too (the tests' projects live under TMPDIR and the engine bind-mounts from
# them): a host directory at the same path in the chroot, handed to the commands as TMPDIR.
tmpd=$(mktemp -d /var/tmp/promo-infra-quickstart-tmp.XXXXXX)
say "TMPDIR=$tmpd (the same path on the host and in the chroot)"
mkdir -p "$root$tmpd"
mnt --bind "$tmpd" "$root$tmpd"

profile=debug
[ "${QUICKSTART_RELEASE:-0}" = 1 ] && profile=release
for cmd in "${run[@]}"; do
  say "chroot: \$ $cmd   (PROMO_INFRA_PROFILE=$profile)"
  start=$(date +%s)
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PROMO_INFRA_PROFILE=$profile TMPDIR="$tmpd" \
    bash -c "cd $work && $cmd" \
    || fail "\`$cmd\` failed in the clean Debian chroot (after $(($(date +%s) - start)) s)"
  say "ok: \`$cmd\` ($(($(date +%s) - start)) s)"
done
say "command table example: promo-infra --version -> $(chroot "$root" /usr/local/bin/promo-infra --version)"
say "quickstart passed on a clean Debian 12"
