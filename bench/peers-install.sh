#!/usr/bin/env bash
# Installs what bench/compare.sh measures Nimbus against, when missing:
# Debian's nats-server, rabbitmq-server and redis-server (their system
# services are stopped: peerbench starts private servers on random ports),
# and nats-server v2.15.3 built from its Go module (for sync_interval:
# always) into bin/tools/nats-server-v2.15.3. Prints that binary's path.
#
#   bench/peers-install.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nats_version=${NATS_VERSION:-v2.15.3}
nats_bin=$root/bin/tools/nats-server-$nats_version

missing=()
command -v nats-server >/dev/null || missing+=(nats-server)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y nats-server rabbitmq-server redis-server >&2
fi
# The packages' own services (default ports) take CPU during runs; stop them
# whether or not this run installed them.
for s in nats-server rabbitmq-server redis-server; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$s" 2>/dev/null; then
    systemctl stop "$s" >&2 || true
  elif command -v service >/dev/null; then
    service "$s" stop >/dev/null 2>&1 || true
  fi
done

if [ ! -x "$nats_bin" ]; then
  echo "building nats-server $nats_version from its Go module" >&2
  build=$(mktemp -d)
  GOBIN=$build go install "github.com/nats-io/nats-server/v2@$nats_version" >&2
  mkdir -p "$(dirname "$nats_bin")"
  mv "$build/nats-server" "$nats_bin"
  rm -rf "$build"
fi
echo "$nats_bin"
