#!/usr/bin/env bash
# Installs what promo-infra's tests, demo and benchmarks need on a Debian machine, when absent,
# and starts the Docker engine when no socket answers. Idempotent; safe to re-run.
set -euo pipefail

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v influxd >/dev/null || need_apt+=(influxdb)
command -v influx >/dev/null || need_apt+=(influxdb-client)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget || need_apt+=(busybox-static)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v flock >/dev/null || need_apt+=(util-linux)
# The STOP page is tested in a real headless browser (control API tests).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# The stand-in k6 of the k6/control-API tests is a Python script.
command -v python3 >/dev/null || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v just >/dev/null; then
  echo "setup: pip install rust-just"
  pip install -q rust-just
fi

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
