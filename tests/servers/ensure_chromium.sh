#!/usr/bin/env bash
# Headless Chromium and CJK fonts for the catalog's browser tests (tests/integration/test_catalog_browser.py).
# Idempotent: does nothing when `chromium` is on PATH and the Noto CJK fonts are installed. Installs Debian's
# packages with apt-get when it can (root, or passwordless sudo: tests/servers/apt_install.sh); otherwise, or
# when the install fails, prints how and exits 0, so the browser tests skip themselves instead of failing the run.
set -euo pipefail
# shellcheck source=tests/servers/apt_install.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

have_fonts() { fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || dpkg -s fonts-noto-cjk >/dev/null 2>&1; }

if command -v chromium >/dev/null 2>&1 && have_fonts; then
  exit 0
fi
apt_install ensure_chromium "the browser tests will be skipped" 0 chromium fonts-noto-cjk
chromium --version 2>/dev/null
