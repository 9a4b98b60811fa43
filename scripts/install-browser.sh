#!/usr/bin/env bash
# Install Debian's Chromium for the demo's browser tests (tests/test_demo_browser.py), unless it is there already.
# Playwright drives this system browser; it never downloads one of its own. Without root or apt-get this says so and
# exits 0: the browser tests then skip, each with the reason.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-browser: /usr/bin/chromium is missing and this is not root on a Debian-like system;" \
        "install the 'chromium' package to run the browser tests (they will be skipped)." >&2
    exit 0
fi
echo "install-browser: installing Debian's chromium for the browser tests" >&2
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    echo "install-browser: apt-get could not install chromium; the browser tests will be skipped." >&2
fi
exit 0
