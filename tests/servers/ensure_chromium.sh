#!/usr/bin/env bash
# Headless Chromium and CJK fonts for the catalog's browser tests (tests/integration/test_catalog_browser.py).
# Idempotent: does nothing when `chromium` is on PATH and the Noto CJK fonts are installed. Installs Debian's
# packages with apt-get when it can (root, or passwordless sudo); otherwise prints how and exits 0, so the
# browser tests skip themselves instead of failing the run.
set -euo pipefail

have_fonts() { fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || dpkg -s fonts-noto-cjk >/dev/null 2>&1; }

if command -v chromium >/dev/null 2>&1 && have_fonts; then
  exit 0
fi
packages="chromium fonts-noto-cjk"
if [ "$(id -u)" = 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n"
else
  echo "ensure_chromium: chromium or fonts-noto-cjk missing and no root: apt-get install -y $packages" \
       "(the browser tests will be skipped)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_chromium: no apt-get here; install $packages by hand (the browser tests will be skipped)" >&2
  exit 0
fi
echo "ensure_chromium: installing $packages (Debian packages, once)"
export DEBIAN_FRONTEND=noninteractive
# a fresh container has no package lists yet
if ! $sudo apt-get install -y --no-install-recommends $packages >/tmp/ensure_chromium.log 2>&1; then
  $sudo apt-get update -qq >>/tmp/ensure_chromium.log 2>&1
  $sudo apt-get install -y --no-install-recommends $packages >>/tmp/ensure_chromium.log 2>&1 \
    || { tail -n 20 /tmp/ensure_chromium.log >&2; echo "ensure_chromium: install FAILED (log /tmp/ensure_chromium.log); the browser tests will be skipped" >&2; exit 0; }
fi
chromium --version 2>/dev/null
