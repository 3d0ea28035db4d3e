#!/bin/sh
# Debian's Chromium, for test/e2e/browser.test.ts (the browser helper in real headless
# Chromium, driven by playwright-core with executablePath /usr/bin/chromium; Playwright's own
# browser download is never used). Idempotent and fast: does nothing when /usr/bin/chromium is
# there. When it cannot install (no apt, not root, no network): under CI=true it exits 1, since
# CI must not go green with the browser tier gone; locally it warns and the test skips itself
# with the reason.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "install-browser: $($CHROMIUM --version 2>/dev/null | head -n 1) present"
  exit 0
fi

cannot() {
  case "${CI:-}" in true | 1) in_ci=1 ;; *) in_ci=0 ;; esac
  if [ "$in_ci" = 1 ]; then
    echo "install-browser: ERROR: $*; CI=true needs Chromium for test/e2e/browser.test.ts" >&2
    exit 1
  fi
  echo "install-browser: WARNING: $*; test/e2e/browser.test.ts will skip" >&2
  exit 0
}

command -v apt-get >/dev/null 2>&1 || cannot "$CHROMIUM is missing and apt-get is not available"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || cannot "$CHROMIUM is missing and this is not root (no passwordless sudo)"
  SUDO="sudo -n"
fi

export DEBIAN_FRONTEND=noninteractive
# Bounded waits: an unreachable mirror must not stall CI.
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 update -qq || cannot "apt-get update failed (mirror unreachable?)"
$SUDO apt-get -o Acquire::Retries=1 -o Acquire::http::Timeout=20 install -y -qq chromium || cannot "apt-get install chromium failed"
[ -x "$CHROMIUM" ] || cannot "chromium was installed but $CHROMIUM is still missing"
echo "install-browser: installed $($CHROMIUM --version 2>/dev/null | head -n 1)"
