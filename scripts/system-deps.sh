#!/usr/bin/env bash
# Install the Debian packages Samleng needs, only those missing. Usage: scripts/system-deps.sh run|test
#   run : rabbitmq-server (the broker `make run` starts as a private node)
#   test: the same, plus Chromium (browser tests), Khmer fonts (pages render Khmer, not boxes) and
#         docker-compose 1.29 (tests/deploy validates the compose files with `docker-compose config`)
set -euo pipefail
need=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v epmd >/dev/null 2>&1 || need+=(erlang-base)
if [ "${1:-run}" = test ]; then
  [ -x /usr/lib/chromium/chromium ] || need+=(chromium)
  [ -d /usr/share/fonts/truetype/khmeros ] || need+=(fonts-khmeros)
  [ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${need[*]} with apt-get"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "system-deps: need root (or sudo) to install ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system-deps: done"
