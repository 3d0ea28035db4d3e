#!/bin/sh
# System packages the tests use beyond Node: systemd-analyze, for test/e2e/systemd.test.ts and
# test/e2e/self-hosted.test.ts (`systemd-analyze verify` and `security` on the shipped units).
# Idempotent and fast: does nothing when the tool is there. When it cannot install (no apt, not
# root, no network): under CI=true it exits 1, since CI must not go green with those checks
# gone; locally it warns and the tests skip those checks with the reason.
set -u

if command -v systemd-analyze >/dev/null 2>&1; then
  echo "install-system-deps: systemd-analyze present ($(systemd-analyze --version | head -n 1))"
  exit 0
fi

cannot() {
  case "${CI:-}" in true | 1) in_ci=1 ;; *) in_ci=0 ;; esac
  if [ "$in_ci" = 1 ]; then
    echo "install-system-deps: ERROR: $*; CI=true needs systemd-analyze for test/e2e/systemd.test.ts" >&2
    exit 1
  fi
  echo "install-system-deps: WARNING: $*; test/e2e/systemd.test.ts will skip its systemd-analyze checks" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || cannot "systemd-analyze is missing and apt-get is not available"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || cannot "systemd-analyze is missing and this is not root (no passwordless sudo)"
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
# Bounded waits: an unreachable mirror must not stall CI.
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 update -qq || cannot "apt-get update failed (mirror unreachable?)"
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 install -y -qq --no-install-recommends systemd || cannot "apt-get install systemd failed"
command -v systemd-analyze >/dev/null 2>&1 || cannot "systemd was installed but systemd-analyze is still not on PATH"
echo "install-system-deps: installed $(systemd-analyze --version | head -n 1)"
