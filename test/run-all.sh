#!/usr/bin/env bash
# test/run-all.sh — README's test command: everything every suite needs, then
# every suite. Run as root in a clone (a fresh Debian 12 machine is fine):
#
#   bash test/run-all.sh
#
# 1. Debian packages the suites use, when missing: postfix, swaks and
#    dnsmasq-base (end-to-end suite: a real Postfix in a network namespace),
#    redis-server (shared rate limits), systemd (the unit checks and the
#    sandboxed systemd), iproute2 (namespaces), man-db and groff-base (the man
#    pages render). Package scripts start no service (policy-rc.d); the tests
#    start their own, on loopback only.
# 2. npm ci, when node_modules is missing or older than package-lock.json.
# 3. The build (tests into build/, the program and man pages into dist/),
#    then tap's runner for the configured plugins.
# 4. Every suite (tap, two at a time), ending with the plain
#    "N passed, N failed" line. Exit status: tap's (0 = all passed).
#
# Needs: Node.js >= 20.6 with npm (Debian 12's own nodejs is 18: use
# NodeSource's or nodejs.org's packages). What cannot be installed fails here,
# at once, with its name; a suite whose tool is still missing fails at its
# first test, naming it.
#
# Environment: PI_NO_APT=1 skips step 1 (a machine that has the tools under
# other names); TAP_ARGS is passed to tap (e.g. TAP_ARGS="build/test/config.test.js").
set -uo pipefail
cd "$(dirname "$0")/.."

say() { printf 'run-all: %s\n' "$*" >&2; }
fail() { say "$*"; echo '0 passed, 1 failed'; exit 1; }

# --- Node -------------------------------------------------------------------
command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js >= 20.6 with npm is needed; Debian 12's nodejs is 18)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (it comes with Node.js from NodeSource or nodejs.org)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=6)?0:1)' \
  || fail "node $(node --version) is too old: Node.js >= 20.6 is needed"

# --- 1. Debian packages ---------------------------------------------------------
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
need=()
command -v postfix >/dev/null 2>&1 || need+=(postfix)
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v dnsmasq >/dev/null 2>&1 || need+=(dnsmasq-base)
command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1 || need+=(redis-server)
command -v systemd-analyze >/dev/null 2>&1 && [ -x /lib/systemd/systemd ] || need+=(systemd)
command -v ip >/dev/null 2>&1 && command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v groff >/dev/null 2>&1 || command -v nroff >/dev/null 2>&1 || need+=(groff-base)
if [ ${#need[@]} -gt 0 ] && [ "${PI_NO_APT:-}" != 1 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    fail "missing ${need[*]}: run this as root on Debian/Ubuntu (it installs them with apt-get), or install them yourself"
  fi
  say "installing ${need[*]}"
  made_policy_rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    made_policy_rc=1
  fi
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
  timeout 300 apt-get update -qq </dev/null || say "apt-get update failed (trying the install anyway)"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
  rc=$?
  [ "$made_policy_rc" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || fail "apt-get install ${need[*]} failed (exit $rc)"
fi

# --- 2. npm -----------------------------------------------------------------------
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  timeout 900 npm ci --no-audit --no-fund </dev/null || fail "npm ci failed"
fi

# --- 3. build ---------------------------------------------------------------------
say "build"
timeout 600 npm run --silent pretest </dev/null || fail "the build failed (npm run pretest)"
# tap compiles its runner for the plugins package.json names (once per install)
timeout 300 npx --no-install tap build </dev/null >/dev/null || fail "tap build failed"

# --- 4. every suite ---------------------------------------------------------------
say "tests"
# shellcheck disable=SC2086
npx --no-install tap ${TAP_ARGS:-} </dev/null 2>&1 | node test/tools/tap-summary.mjs
exit "${PIPESTATUS[0]}"
