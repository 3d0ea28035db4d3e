#!/bin/sh
# System packages the tests use beyond Node: systemd-analyze, for test/e2e/systemd.test.ts
# (`systemd-analyze verify` on deploy/systemd/sallyport-connector.service). Idempotent: does
# nothing when the tool is there. Never fails the build: without apt, or without the network,
# it warns and the test skips itself with the reason.
set -u

if command -v systemd-analyze >/dev/null 2>&1; then
  echo "install-system-deps: systemd-analyze present ($(systemd-analyze --version | head -n 1))"
  exit 0
fi

warn() {
  echo "install-system-deps: WARNING: $*; test/e2e/systemd.test.ts will skip its systemd-analyze checks" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || warn "systemd-analyze is missing and apt-get is not available"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || warn "systemd-analyze is missing and this is not root (no passwordless sudo)"
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
# A bounded wait: an unreachable mirror must not stall CI.
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 update -qq || warn "apt-get update failed (mirror unreachable?)"
$SUDO apt-get install -y -qq --no-install-recommends systemd || warn "apt-get install systemd failed"
command -v systemd-analyze >/dev/null 2>&1 || warn "systemd was installed but systemd-analyze is still not on PATH"
echo "install-system-deps: installed $(systemd-analyze --version | head -n 1)"
