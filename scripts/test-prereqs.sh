#!/usr/bin/env bash
# Prerequisites of `make test` beyond the Python packages: Chromium at /usr/bin/chromium for
# the browser tests in tests/e2e (driven by Playwright, which must never download browsers:
# no `playwright install` here or anywhere).
set -uo pipefail

CHROMIUM=/usr/bin/chromium

banner() {
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
  for line in "$@"; do echo "!!! $line" >&2; done
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
}

if [[ ! -x $CHROMIUM && $(id -u) -eq 0 ]]; then
  echo "installing chromium (apt-get) for the browser tests"
  log=$(mktemp)
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
    >"$log" 2>&1; then
    echo "apt-get could not install chromium:" >&2
    tail -n 20 "$log" >&2
  fi
  rm -f "$log"
fi

if [[ ! -x $CHROMIUM ]]; then
  if [[ ${CI:-} == "true" ]]; then
    banner "ERROR: $CHROMIUM is missing and CI=true: the browser tests cannot run." \
      "Install it with: apt-get install -y chromium"
    exit 1
  fi
  banner "WARNING: $CHROMIUM is missing: the browser tests (tests/e2e) will be SKIPPED." \
    "Install it with: apt-get install -y chromium"
fi
exit 0
