#!/usr/bin/env bash
# Prerequisites of `make test` beyond the Python packages:
# - Caddy (Debian's package) for tests/deploy: the Caddyfile and the TLS topology;
# - Chromium at /usr/bin/chromium for the browser tests in tests/e2e (driven by Playwright,
#   which must never download browsers: no `playwright install` here or anywhere);
# - the npm test helpers of package.json (the Web Push receiver `web-push-testing` for
#   tests/notifications, axe-core for the accessibility checks in tests/e2e), installed with
#   `npm ci` when node_modules is missing or stale.
# Under CI=true a missing prerequisite is fatal; elsewhere the tests that need it skip, loudly.
set -uo pipefail
cd "$(dirname "$0")/.."

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

# --- Caddy for the TLS topology test (tests/deploy, PostgreSQL pass) -----------------------------
if ! command -v caddy >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  echo "installing caddy (apt-get) for the TLS topology test"
  log=$(mktemp)
  # The package starts a system service on :80; the tests run their own Caddy instead.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy \
    && { systemctl disable --now caddy >/dev/null 2>&1 || true; }; } >"$log" 2>&1; then
    echo "apt-get could not install caddy:" >&2
    tail -n 20 "$log" >&2
  fi
  rm -f "$log"
fi
if ! command -v caddy >/dev/null 2>&1; then
  if [[ ${CI:-} == "true" ]]; then
    banner "ERROR: caddy is missing and CI=true: the TLS topology test cannot run." \
      "Install it with: apt-get install -y caddy"
    exit 1
  fi
  banner "WARNING: caddy is missing: the TLS topology and Caddyfile tests will be SKIPPED."
fi

# --- fonts for PDF extracts: DejaVu covers non-Latin-1 names (Yılmaz, Papadopoulos in Greek) --
if [[ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf && $(id -u) -eq 0 ]]; then
  echo "installing fonts-dejavu-core (apt-get) for PDF extracts"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null 2>&1 \
    || echo "could not install fonts-dejavu-core: PDFs will transliterate names to Latin-1" >&2
fi

# --- npm test helpers -------------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  echo "installing nodejs and npm (apt-get) for the Web Push receiver tests"
  log=$(mktemp)
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } \
    >"$log" 2>&1; then
    echo "apt-get could not install nodejs/npm:" >&2
    tail -n 20 "$log" >&2
  fi
  rm -f "$log"
fi

# npm ci records what it installed in node_modules/.package-lock.json: missing, or older than
# package-lock.json, means node_modules does not match the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json \
  || ! -f node_modules/web-push-testing/package.json || ! -f node_modules/axe-core/axe.min.js ]]; then
  echo "installing the npm test helpers (npm ci)"
  log=$(mktemp)
  if ! command -v npm >/dev/null 2>&1 || ! npm ci --no-audit --no-fund >"$log" 2>&1; then
    [[ -s $log ]] && tail -n 20 "$log" >&2
    rm -f "$log"
    if [[ ${CI:-} == "true" ]]; then
      banner "ERROR: the npm test helpers could not be installed and CI=true:" \
        "the Web Push receiver tests (tests/notifications) cannot run." \
        "Install Node.js and npm, then run: npm ci"
      exit 1
    fi
    banner "WARNING: the npm test helpers are not installed: the Web Push receiver tests" \
      "(tests/notifications) will be SKIPPED. Install Node.js and npm, then run: npm ci"
  else
    rm -f "$log"
  fi
fi
exit 0
