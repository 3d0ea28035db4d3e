#!/bin/sh
# System packages the tests use beyond Node, as "command package" pairs:
#   systemd-analyze (systemd)  test/e2e/systemd.test.ts: `systemd-analyze verify` on the units;
#   tinyproxy (tinyproxy)      test/e2e/proxy.test.ts: a real HTTP proxy on 127.0.0.1;
#   squid (squid)              a second real proxy, for the proxy and firewall tests.
# Idempotent: installs only what is missing. Never fails the build by itself: without apt, or
# without the network, it warns; then systemd.test.ts skips with the reason, while
# proxy.test.ts fails under CI=true (a missing proxy must not pass as a skipped test).
set -u

NEEDED="systemd-analyze:systemd tinyproxy:tinyproxy squid:squid"

missing=""
for pair in $NEEDED; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ]; then
    echo "install-system-deps: $cmd present"
  else
    missing="$missing $pkg"
  fi
done
[ -z "$missing" ] && exit 0

warn() {
  echo "install-system-deps: WARNING: $*; the tests that need${missing} will skip (or, under CI=true, fail) with the reason" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || warn "apt-get is not available"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || warn "this is not root (no passwordless sudo)"
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
# A bounded wait: an unreachable mirror must not stall CI.
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 update -qq || warn "apt-get update failed (mirror unreachable?)"
# shellcheck disable=SC2086 # one word per package
$SUDO apt-get install -y -qq --no-install-recommends $missing || warn "apt-get install$missing failed"
# Each test starts its own proxy on a free port: a packaged service left running is no conflict.
echo "install-system-deps: installed$missing"
