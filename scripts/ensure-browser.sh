#!/usr/bin/env bash
# Make Debian's Chromium available for the JupyterLab browser test.
# Installs it only where that is safe to do unasked: in CI (CI=true) as root with apt-get,
# or when ACTORPG_INSTALL_BROWSER=1. Elsewhere it just says the browser test will skip.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if { [ "${CI:-}" = "true" ] || [ "${ACTORPG_INSTALL_BROWSER:-}" = "1" ]; } \
   && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser test ..."
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq && apt-get install -y -qq chromium >/dev/null; then
    exit 0
  fi
  echo "WARNING: could not install chromium; the browser test will be skipped" >&2
  exit 0
fi
echo "note: /usr/bin/chromium not found; the JupyterLab browser test will be skipped" \
     "(set ACTORPG_INSTALL_BROWSER=1 as root on Debian/Ubuntu to install it)"
