#!/bin/sh
# Entrypoint of promo-infra's local InfluxDB 1.6 image. On the first start (no meta directory
# yet) it does what the official influxdb:1.x image's init-influxdb.sh does: creates
# INFLUXDB_DB, the admin user, the write and read users with their grants, and runs
# /docker-entrypoint-initdb.d/*.iql. Queries go to influx through stdin and credentials through
# INFLUX_USERNAME/INFLUX_PASSWORD, so no password appears in a process's arguments.
set -eu

init() {
  auth=$(printf '%s' "${INFLUXDB_HTTP_AUTH_ENABLED:-false}" | tr 'A-Z' 'a-z')
  INFLUXDB_HTTP_BIND_ADDRESS=127.0.0.1:8086 INFLUXDB_HTTP_HTTPS_ENABLED=false "$@" &
  pid=$!
  i=0
  until wget -q -O /dev/null http://127.0.0.1:8086/ping 2>/dev/null; do
    i=$((i + 1))
    if [ "$i" -ge 60 ]; then
      echo "init-influxdb: influxd did not answer on 127.0.0.1:8086 within 30s" >&2
      exit 1
    fi
    sleep 0.5
  done
  user=""
  pass=""
  if [ "$auth" = true ] && [ -n "${INFLUXDB_ADMIN_USER:-}" ]; then
    run "CREATE USER \"$INFLUXDB_ADMIN_USER\" WITH PASSWORD '${INFLUXDB_ADMIN_PASSWORD:-}' WITH ALL PRIVILEGES"
    user=$INFLUXDB_ADMIN_USER
    pass=${INFLUXDB_ADMIN_PASSWORD:-}
  fi
  if [ -n "${INFLUXDB_DB:-}" ]; then
    run "CREATE DATABASE \"$INFLUXDB_DB\""
  fi
  if [ -n "$user" ]; then
    if [ -n "${INFLUXDB_WRITE_USER:-}" ]; then
      run "CREATE USER \"$INFLUXDB_WRITE_USER\" WITH PASSWORD '${INFLUXDB_WRITE_USER_PASSWORD:-}'"
      run "REVOKE ALL PRIVILEGES FROM \"$INFLUXDB_WRITE_USER\""
      [ -z "${INFLUXDB_DB:-}" ] || run "GRANT WRITE ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_WRITE_USER\""
    fi
    if [ -n "${INFLUXDB_READ_USER:-}" ]; then
      run "CREATE USER \"$INFLUXDB_READ_USER\" WITH PASSWORD '${INFLUXDB_READ_USER_PASSWORD:-}'"
      run "REVOKE ALL PRIVILEGES FROM \"$INFLUXDB_READ_USER\""
      [ -z "${INFLUXDB_DB:-}" ] || run "GRANT READ ON \"$INFLUXDB_DB\" TO \"$INFLUXDB_READ_USER\""
    fi
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.iql)
        echo "init-influxdb: running $f"
        grep -v '^[[:space:]]*--' "$f" | grep -v '^[[:space:]]*$' | while IFS= read -r q; do run "$q"; done
        ;;
      *) echo "init-influxdb: ignoring $f" ;;
    esac
  done
  kill -TERM "$pid"
  wait "$pid" || true
}

# One InfluxQL statement through stdin; fails on an error answer.
run() {
  out=$(printf '%s\n' "$1" | INFLUX_USERNAME="$user" INFLUX_PASSWORD="$pass" influx -host 127.0.0.1 -port 8086 2>&1) || true
  case "$out" in
    *ERR:*)
      echo "init-influxdb: a statement failed: $(printf '%s' "$out" | grep ERR: | head -1)" >&2
      exit 1
      ;;
  esac
}

if [ "${1:-}" = influxd ]; then
  user=""
  pass=""
  meta=${INFLUXDB_META_DIR:-/var/lib/influxdb/meta}
  if [ ! -d "$meta" ]; then
    if [ -n "${INFLUXDB_DB:-}" ] || [ -n "${INFLUXDB_ADMIN_USER:-}" ] || [ -n "$(ls -A /docker-entrypoint-initdb.d 2>/dev/null)" ]; then
      init "$@"
    fi
  fi
fi
exec "$@"
