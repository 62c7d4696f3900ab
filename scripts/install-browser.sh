#!/usr/bin/env bash
# Install the headless browser the dashboard tests (tests/ui/) drive with Playwright.
#
# Debian's own chromium package, from the system's apt sources: no browser download from
# anywhere else (never `playwright install`). Needs root (or sudo) the first time.
# Idempotent: an existing /usr/bin/chromium (or $TRAINBOT_CHROMIUM) is left alone.
#
# Usage: scripts/install-browser.sh
set -euo pipefail

CHROMIUM="${TRAINBOT_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is there ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install Chromium yourself and set TRAINBOT_CHROMIUM" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: run as root (apt-get install -y chromium)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
"$CHROMIUM" --version
