#!/usr/bin/env bash
# Installs the programs outside cargo that transport-bench's interop tests and optional features
# drive, so that every test runs for real instead of printing a skip line:
#   Debian packages  kcat (pull-log interop), curl (README sessions), iproute2 (network
#                    namespaces), chromium (browser subscribers), shellcheck (script lint),
#                    nginx-light + libnginx-mod-nchan (the Nchan transports; the runner starts
#                    its own nginx, the system service the package starts is not used),
#                    redis-server and mosquitto (the Redis and MQTT transports; likewise
#                    started by the runner on a free port, the system services left alone)
#                    nats-server (the NATS transports; likewise the runner starts its own on a
#                    free port, and a system service on port 4222, if one started, is ignored)
#   Python venv      websockets (a standard WebSocket client), in ${CARGO_TARGET_DIR:-target}/peers-venv,
#                    where the tests look for it first
# Idempotent: what is already there is left alone, and each line says what happened.
#
# Usage: scripts/install-peers.sh [--check]
#   --check   install nothing; list what is missing and exit 1 if anything is
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# program to look for, then the Debian package that provides it
apt_peers=(
  "kcat kcat"
  "curl curl"
  "ip iproute2"
  "chromium chromium"
  "shellcheck shellcheck"
  "nginx nginx-light"
  "redis-server redis-server"
  "mosquitto mosquitto"
  "nats-server nats-server"
)
# file to look for, then the Debian package that provides it (modules are not on PATH)
apt_files=(
  "/usr/lib/nginx/modules/ngx_nchan_module.so libnginx-mod-nchan"
)
venv="${CARGO_TARGET_DIR:-$PWD/target}/peers-venv"
python_modules=("websockets.sync.client websockets")

missing_packages=()
for entry in "${apt_peers[@]}"; do
  read -r program package <<<"$entry"
  if command -v "$program" >/dev/null 2>&1; then
    echo "present   $program ($(command -v "$program"))"
  else
    echo "missing   $program (Debian package $package)"
    missing_packages+=("$package")
  fi
done

for entry in "${apt_files[@]}"; do
  read -r file package <<<"$entry"
  if [ -f "$file" ]; then
    echo "present   $file"
  else
    echo "missing   $file (Debian package $package)"
    missing_packages+=("$package")
  fi
done

missing_modules=()
for entry in "${python_modules[@]}"; do
  read -r module package <<<"$entry"
  if [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c "import $module" >/dev/null 2>&1; then
    echo "present   python: $package (in $venv)"
  else
    echo "missing   python: $package (venv $venv)"
    missing_modules+=("$package")
  fi
done

if $check_only; then
  [ ${#missing_packages[@]} -eq 0 ] && [ ${#missing_modules[@]} -eq 0 ]
  exit
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing_packages[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing_packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing_packages[@]}" >/dev/null
  echo "installed ${missing_packages[*]}"
fi

if [ ${#missing_modules[@]} -gt 0 ]; then
  if [ ! -x "$venv/bin/python3" ]; then
    # Debian's own python3 keeps venv in a separate package.
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      echo "installing Debian package python3-venv"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
    echo "created venv $venv"
  fi
  "$venv/bin/python3" -m pip install -q "${missing_modules[@]}"
  echo "installed python: ${missing_modules[*]} (in $venv)"
fi
echo "every peer is installed"
