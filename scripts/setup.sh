#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian machine: npm packages from the lock file, and
# the system packages the tests run for real (Chromium, Firefox ESR and WebKitGTK with its WebDriver for the browser
# tests, Xvfb for WebKit, which has no headless mode; redis-server for the Redis tests; a real Secret Service for
# deviceSignIn's keychain store: GNOME Keyring under its own D-Bus session, and libsecret's secret-tool). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
[ -x /usr/bin/WebKitWebDriver ] || missing+=(webkit2gtk-driver)
command -v xvfb-run >/dev/null || missing+=(xvfb)
command -v xauth >/dev/null || missing+=(xauth)
command -v dbus-run-session >/dev/null || missing+=(dbus)
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v secret-tool >/dev/null || missing+=(libsecret-tools)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  echo "setup: installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  # With the recommended packages: Firefox and WebKitGTK were proven here with them (fonts, GLib networking, the X
  # keyboard data Xvfb needs), and a missing one shows up only as an engine that hangs at start.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
