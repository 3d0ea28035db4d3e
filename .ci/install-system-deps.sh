#!/bin/sh
# System packages the tests use beyond Node, as "command:package" pairs:
#   systemd-analyze (systemd)  test/e2e/systemd.test.ts and test/e2e/self-hosted.test.ts:
#                              `systemd-analyze verify` and `security` on the shipped units;
#   tinyproxy (tinyproxy)      test/e2e/proxy.test.ts: a real HTTP proxy on 127.0.0.1;
#   squid (squid)              a second real proxy, for the proxy tests and the bench.
#   ip (iproute2), nft (nftables)  test/e2e/firewall.test.ts: network namespaces, and the
#                              firewall inside them (tinyproxy is its proxy too).
# Idempotent and fast: installs only what is missing. When it cannot install (no apt, not root,
# no network): under CI=true it exits 1, since CI must not go green with those checks gone;
# locally it warns and the tests that need the missing tools skip with the reason.
set -u

NEEDED="systemd-analyze:systemd tinyproxy:tinyproxy squid:squid ip:iproute2 nft:nftables"

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

cannot() {
  case "${CI:-}" in true | 1) in_ci=1 ;; *) in_ci=0 ;; esac
  if [ "$in_ci" = 1 ]; then
    echo "install-system-deps: ERROR: $*; CI=true needs${missing}" >&2
    exit 1
  fi
  echo "install-system-deps: WARNING: $*; the tests that need${missing} will skip with the reason" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || cannot "apt-get is not available"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || cannot "this is not root (no passwordless sudo)"
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
# Bounded waits: an unreachable mirror must not stall CI.
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 update -qq || cannot "apt-get update failed (mirror unreachable?)"
# shellcheck disable=SC2086 # one word per package
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 install -y -qq --no-install-recommends $missing ||
  cannot "apt-get install$missing failed"
for pair in $NEEDED; do
  cmd=${pair%%:*}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || cannot "installed${missing} but $cmd is still not on PATH"
done
# Each test starts its own proxy on a free port: a packaged service left running is no conflict.
echo "install-system-deps: installed$missing"
