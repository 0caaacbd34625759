#!/usr/bin/env bash
# run-peer-bench.sh - benchmark Postfix policy daemons side by side, on
# loopback only, with policyload.mjs.
#
# Everything (dnsmasq, a syslog sink, each daemon, the load generator) runs in
# a network namespace that has only a loopback interface and whose
# resolv.conf says "nameserver 127.0.0.1", so no packet can leave the machine.
# Each process tree is put in its own cpuacct cgroup, which gives exact CPU
# time (forked and exited children included) and the exact set of PIDs to
# measure and to stop. Targets run one at a time.
#
#   run-peer-bench.sh [TARGET...]   set up, run every target, tear down, print
#                                   a markdown table (default: all builtins)
#   run-peer-bench.sh down          tear down whatever a previous run left
#
# TARGET is a builtin name or a custom daemon:
#   ceiling                  ceiling-server.mjs (parses, answers DUNNO; no DNS)
#   postfwd2                 postfwd2 1.35, postfwd.cf, Debian's
#                            default args (request cache 600 s)
#   postfwd2-nocache         the same with --cache=0 (no request cache)
#   policyd-weight           policyd-weight 0.1.15.2, policyd-weight.conf
#                            (result caches on, as shipped)
#   policyd-weight-nocache   the same with $CACHESIZE=0, $POSCACHESIZE=0
#   custom:NAME:PORT:CMD     CMD (bash -c, from the caller's directory, inside
#                            the namespace) must listen on 127.0.0.1:PORT and
#                            use 127.0.0.1:53 for DNS, e.g.
#        'custom:policyd-identity:10050:node dist/cli.js --listen 127.0.0.1:10050 --dns 127.0.0.1'
#
# Environment (defaults):
#   CONNS="1 8 64"  REPS=2  REQUESTS=20000  DURATION_S=20  WARMUP=1000
#   VARY=1 (0: policyload --no-vary)   REQUESTS_FILE=requests-mix.txt (beside this script)
#   NETNS=pbench  RUN_DIR=/tmp/pbench  GLOBAL_TIMEOUT=2400  INSTALL_DEPS=1
#   RESULTS=$RUN_DIR/results.jsonl (one JSON object per measured run)
#   NOISE_MAX=0.25 QUIET_WAIT_S=45 MAX_EXTRA=1: before each run wait up to
#     QUIET_WAIT_S for the rest of the machine to use <= NOISE_MAX cores; a run
#     during which it used more is flagged noisy and repeated (MAX_EXTRA times
#     per concurrency at most). This machine may be shared with other jobs.
#   ROUNDS=1: measure the whole target list ROUNDS times, every even round in
#     reverse order (a target is started afresh each round). The harness
#     measures one target after the other; on a VM whose speed drifts by tens
#     of percent within minutes (steal time unreported), a ratio of two targets
#     measured once each, one after the other, can be off by half. Alternated
#     rounds put each target before and after the other; the summary averages
#     the quiet runs of all rounds, every run row carries its round.
#
# Per run it records policyload's JSON plus: target CPU seconds (cpuacct),
# dnsmasq and syslog-sink CPU, load generator CPU, other CPU on the machine
# (/proc/stat busy minus ours), DNS queries answered (dnsmasq SIGUSR1 stats),
# and after the run the target's RSS and PSS (sum over its processes).
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
PB=$HERE
NETNS=${NETNS:-pbench}
RUN_DIR=${RUN_DIR:-/tmp/pbench}
CONNS=${CONNS:-1 8 64}
REPS=${REPS:-2}
REQUESTS=${REQUESTS:-20000}
DURATION_S=${DURATION_S:-20}
WARMUP=${WARMUP:-1000}
VARY=${VARY:-1}
REQUESTS_FILE=${REQUESTS_FILE:-$HERE/requests-mix.txt}
GLOBAL_TIMEOUT=${GLOBAL_TIMEOUT:-2400}
INSTALL_DEPS=${INSTALL_DEPS:-1}
RESULTS=${RESULTS:-$RUN_DIR/results.jsonl}
NOISE_MAX=${NOISE_MAX:-0.25}
QUIET_WAIT_S=${QUIET_WAIT_S:-45}
MAX_EXTRA=${MAX_EXTRA:-1}
CGROOT=/sys/fs/cgroup/cpuacct/$NETNS
DEFAULT_TARGETS="ceiling postfwd2 postfwd2-nocache policyd-weight policyd-weight-nocache"
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s\n' "run-peer-bench: $*" >&2; }
die() { log "error: $*"; exit 2; }
nsx() { ip netns exec "$NETNS" "$@"; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$NETNS"; }

# ---- cgroups: one per process tree we start --------------------------------
cg_usage() { cat "$CGROOT/$1/cpuacct.usage" 2>/dev/null || echo 0; } # ns
cg_pids() { cat "$CGROOT/$1/cgroup.procs" 2>/dev/null; }
# cg_stop NAME: TERM every process in the cgroup, wait up to 5 s, KILL the rest
cg_stop() {
  local cg=$CGROOT/$1 i p
  [ -d "$cg" ] || return 0
  for p in $(cg_pids "$1"); do kill -TERM "$p" 2>/dev/null; done
  for ((i = 0; i < 50; i++)); do [ -z "$(cg_pids "$1")" ] && break; sleep 0.1; done
  for p in $(cg_pids "$1"); do kill -KILL "$p" 2>/dev/null; done
  for ((i = 0; i < 20; i++)); do rmdir "$cg" 2>/dev/null && return 0; sleep 0.1; done
  log "warning: could not remove cgroup $cg"
}
# start_bg NAME OUTFILE CMD: run CMD (bash -c) inside the namespace, in cgroup
# NAME, in its own session, in the background
start_bg() {
  local name=$1 out=$2 cmd=$3
  mkdir -p "$CGROOT/$name" || return 1
  ( exec setsid bash -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$1" bash -c "$2"' \
      "$CGROOT/$name" "$NETNS" "$cmd" ) > "$out" 2>&1 < /dev/null &
}
# run_fg NAME CMD...: run CMD inside the namespace, in cgroup NAME, and wait
run_fg() {
  local name=$1; shift
  mkdir -p "$CGROOT/$name" || return 1
  bash -c 'echo $$ > "$0/cgroup.procs" && exec ip netns exec "$@"' "$CGROOT/$name" "$NETNS" "$@"
}

# sum of VmRSS and Pss (KiB) and the process count of a cgroup
mem_of() {
  local rss=0 pss=0 n=0 p v
  for p in $(cg_pids "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
    [ -n "$v" ] || continue
    rss=$((rss + v)); n=$((n + 1))
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    pss=$((pss + ${v:-0}))
  done
  echo "$rss $pss $n"
}
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; } # user nice system irq softirq steal
# wait_quiet: wait (at most QUIET_WAIT_S) until processes other than ours used
# at most NOISE_MAX cores over 2 s (our daemons are idle between runs)
wait_quiet() {
  local start b0 b1 limit
  start=$(date +%s)
  limit=$(awk -v n="$NOISE_MAX" -v t="$CLK_TCK" 'BEGIN{printf "%d", n * t * 2}')
  while :; do
    b0=$(busy_ticks); sleep 2; b1=$(busy_ticks)
    (( b1 - b0 <= limit )) && return 0
    if (( $(date +%s) - start >= QUIET_WAIT_S )); then
      log "  machine busy ($(( (b1 - b0) * 100 / (2 * CLK_TCK) ))% of a core used by others); measuring anyway"
      return 1
    fi
  done
}
dns_answered() { # dnsmasq's running count of queries answered locally
  local pid n i
  pid=$(cg_pids dns | head -1)
  [ -n "$pid" ] || { echo 0; return; }
  n=$(grep -c 'queries answered locally' "$RUN_DIR/dnsmasq.log" 2>/dev/null)
  kill -USR1 "$pid" 2>/dev/null
  for ((i = 0; i < 20; i++)); do
    [ "$(grep -c 'queries answered locally' "$RUN_DIR/dnsmasq.log" 2>/dev/null)" -gt "${n:-0}" ] && break
    sleep 0.05
  done
  grep 'queries answered locally' "$RUN_DIR/dnsmasq.log" | tail -1 | sed -E 's/.*answered locally ([0-9]+).*/\1/'
}

install_deps() {
  local missing=() made=0 rc
  command -v postfwd2 >/dev/null || [ -x /usr/sbin/postfwd2 ] || missing+=(postfwd)
  [ -x /usr/sbin/policyd-weight ] || missing+=(policyd-weight)
  command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
  command -v ss >/dev/null || missing+=(iproute2)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$INSTALL_DEPS" = 1 ] || die "missing: ${missing[*]} (INSTALL_DEPS=0)"
  log "installing ${missing[*]}"
  # never let package scripts start a daemon outside the namespace
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d; made=1
  fi
  timeout 180 apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; rc=$?
  [ $made = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || die "apt-get install ${missing[*]} failed (rc=$rc)"
}

teardown() {
  local d
  if [ -d "$CGROOT" ]; then
    for d in "$CGROOT"/*/; do [ -d "$d" ] && cg_stop "$(basename "$d")"; done
    rmdir "$CGROOT" 2>/dev/null || log "warning: could not remove $CGROOT"
  fi
  if ns_exists; then ip netns delete "$NETNS" || log "warning: could not delete netns $NETNS"; fi
  rm -rf "/etc/netns/$NETNS"
}

wait_port() { # wait_port PORT SECONDS: something listens on 127.0.0.1:PORT in the namespace
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -n "$(nsx ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}
check_loopback_only() { # every listening socket in the namespace is on loopback
  local bad
  bad=$(nsx ss -Hlntu 2>/dev/null | awk '{print $5}' | grep -Ev '^(127\.[0-9.]+|\[::1\]|\[::ffff:127\.[0-9.]+\]):[0-9]+$')
  [ -z "$bad" ] || { log "non-loopback listener(s) in $NETNS: $bad"; return 1; }
}

setup() {
  [ "$(id -u)" = 0 ] || die "must run as root (network namespace, cgroups, daemons' users)"
  command -v node >/dev/null || die "node missing"
  [ -w /sys/fs/cgroup/cpuacct ] || die "/sys/fs/cgroup/cpuacct (cgroup v1 cpuacct) not writable"
  teardown
  rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"; chmod 755 "$RUN_DIR"
  mkdir -p "$CGROOT" || die "cannot create $CGROOT"
  mkdir -p "/etc/netns/$NETNS"
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "/etc/netns/$NETNS/resolv.conf"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n' > "/etc/netns/$NETNS/hosts"
  ip netns add "$NETNS" || die "ip netns add $NETNS failed"
  nsx ip link set lo up || die "cannot bring lo up in $NETNS"
  [ "$(nsx ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')" = "lo " ] || die "namespace has links other than lo"
  [ -z "$(nsx ip route show 2>/dev/null)" ] || die "namespace has routes besides loopback"
  [ "$(nsx cat /etc/resolv.conf | awk '/^nameserver/{print $2}' | tr '\n' ' ')" = "127.0.0.1 " ] \
    || die "resolv.conf inside $NETNS does not point at 127.0.0.1 only"

  start_bg dns "$RUN_DIR/dnsmasq.out" "exec dnsmasq -k --conf-file=$PB/dnsmasq.conf --pid-file= --log-facility=$RUN_DIR/dnsmasq.log"
  start_bg syslog "$RUN_DIR/syslog-sink.out" "exec node $PB/syslog-sink.mjs --out $RUN_DIR/syslog.log"
  wait_port 53 5 || die "dnsmasq did not come up: $(cat "$RUN_DIR/dnsmasq.out")"
  for ((i = 0; i < 50; i++)); do [ -n "$(nsx ss -Hlnu 'sport = :514' 2>/dev/null)" ] && break; sleep 0.1; done
  nsx timeout 20 node "$PB/dnscheck.mjs" > "$RUN_DIR/dnscheck.txt" 2>&1 \
    || { cat "$RUN_DIR/dnscheck.txt" >&2; die "DNS check failed"; }
  log "namespace $NETNS up: dnsmasq + syslog sink; $(tail -1 "$RUN_DIR/dnscheck.txt") DNS checks"
}

# ---- targets -----------------------------------------------------------------
# start_target NAME DIR -> sets T_PORT; starts the daemon in cgroup "target"
start_target() {
  local name=$1 d=$2 cmd
  mkdir -p "$d"; chmod 755 "$d"
  case $name in
    ceiling)
      T_PORT=10099
      cmd="exec node $HERE/ceiling-server.mjs --host 127.0.0.1 --port $T_PORT" ;;
    postfwd2|postfwd2-nocache)
      T_PORT=10045
      install -m 644 "$PB/postfwd.cf" "$d/postfwd.cf"
      chown postfw:postfw "$d"
      local cache="--cache=600 --cache-rdomain-only --cache-no-size"
      [ "$name" = postfwd2-nocache ] && cache="--cache=0"
      # daemonizes itself; args as Debian's /etc/default/postfwd plus paths
      cmd="exec /usr/sbin/postfwd2 -f $d/postfwd.cf --server_socket tcp:127.0.0.1:$T_PORT \
--cache_proto unix --cache_port $d/cache.sock --pidfile $d/master.pid --socktype inet \
-u postfw -g postfw --summary=600 $cache" ;;
    policyd-weight|policyd-weight-nocache)
      T_PORT=12525
      local c='# result caches as shipped'
      [ "$name" = policyd-weight-nocache ] && c='$CACHESIZE = 0; $POSCACHESIZE = 0;'
      sed -e "s#@PORT@#$T_PORT#; s#@LOCKPATH@#$d/lock#; s#@PIDFILE@#$d/policyd-weight.pid#; s|# @CACHE@|$c|" \
        "$PB/policyd-weight.conf" > "$d/policyd-weight.conf"
      chmod 644 "$d/policyd-weight.conf"
      # -D: master stays in the foreground (it still forks a cache and children)
      cmd="exec /usr/sbin/policyd-weight -D -f $d/policyd-weight.conf start" ;;
    custom:*)
      local rest=${name#custom:}
      rest=${rest#*:}
      T_PORT=${rest%%:*}; cmd=${rest#*:}
      [[ $T_PORT =~ ^[0-9]+$ ]] || { log "bad custom target (want custom:NAME:PORT:CMD): $name"; return 1; }
      cmd="cd $(printf '%q' "$PWD") && $cmd" ;;
    *) log "unknown target $name"; return 1 ;;
  esac
  start_bg target "$d/target.out" "$cmd"
  wait_port "$T_PORT" 30 || { log "$name: nothing listening on 127.0.0.1:$T_PORT; output:"; tail -20 "$d/target.out" >&2; return 1; }
  sleep 1 # let preforking daemons finish forking
  nsx ss -Hlntup > "$d/listeners.txt" 2>&1
  check_loopback_only || return 1
}

# measure_target NAME
measure_target() {
  local name=$1 label=$1 c rep
  [[ $name == custom:* ]] && { label=${name#custom:}; label=${label%%:*}; }
  [[ $label =~ ^[A-Za-z0-9._-]+$ ]] || { log "bad target name: $label"; return 1; }
  local d=$RUN_DIR/$label
  log "== $label"
  local syslog_off; syslog_off=$(stat -c %s "$RUN_DIR/syslog.log" 2>/dev/null || echo 0)
  start_target "$name" "$d" || { log "$label: start failed, skipped"; cg_stop target; return 1; }
  local vary=(); [ "$VARY" = 1 ] || vary=(--no-vary)
  local lg=(node "$HERE/policyload.mjs" --host 127.0.0.1 --port "$T_PORT" --requests-file "$REQUESTS_FILE" "${vary[@]}")
  # decisions per identity, cold: one pass over the file on one connection
  local nblocks; nblocks=$(grep -c '^request=' "$REQUESTS_FILE")
  run_fg loadgen timeout 60 "${lg[@]}" --connections 1 --requests "$nblocks" --duration-s 30 --by-label --label "$label" \
    > "$d/decisions-cold.json" 2> "$d/decisions-cold.err"
  local m0; m0=$(mem_of target)
  for c in $CONNS; do
    local clean=0 rep=0
    # REPS runs per concurrency; a run during which other processes on the
    # machine used more than NOISE_MAX cores is "noisy" and is repeated, up to
    # MAX_EXTRA extra runs (every run is recorded, with its noisy flag)
    while (( clean < REPS && rep < REPS + MAX_EXTRA )); do
      rep=$((rep + 1))
      (( $(date +%s) < DEADLINE - DURATION_S - QUIET_WAIT_S - 40 )) || { log "global time budget nearly spent; stopping"; break 2; }
      wait_quiet
      # warm-up on the same number of connections, not measured
      run_fg loadgen timeout 60 "${lg[@]}" --connections "$c" --requests "$WARMUP" --duration-s 15 --label "$label" \
        > "$d/warm-c$c-r$rep.json" 2>&1
      local u0 dn0 s0 l0 q0 b0 t0 u1 dn1 s1 l1 q1 b1 t1 rc rss pss nproc
      u0=$(cg_usage target); dn0=$(cg_usage dns); s0=$(cg_usage syslog); l0=$(cg_usage loadgen)
      q0=$(dns_answered); b0=$(busy_ticks); t0=$(date +%s%N)
      run_fg loadgen timeout $((DURATION_S + 60)) "${lg[@]}" --connections "$c" --requests "$REQUESTS" \
        --duration-s "$DURATION_S" --by-label --label "$label" > "$d/run-c$c-r$rep.json" 2> "$d/run-c$c-r$rep.err"
      rc=$?
      t1=$(date +%s%N); b1=$(busy_ticks)
      u1=$(cg_usage target); dn1=$(cg_usage dns); s1=$(cg_usage syslog); l1=$(cg_usage loadgen)
      q1=$(dns_answered)
      read -r rss pss nproc < <(mem_of target)
      local extra
      extra=$(awk -v t0="$t0" -v t1="$t1" -v u0="$u0" -v u1="$u1" -v dn0="$dn0" -v dn1="$dn1" -v s0="$s0" -v s1="$s1" \
        -v l0="$l0" -v l1="$l1" -v b0="$b0" -v b1="$b1" -v tck="$CLK_TCK" -v nmax="$NOISE_MAX" \
        -v target="$label" -v round="${ROUND:-1}" -v rep="$rep" -v rc="$rc" -v q="$(( ${q1:-0} - ${q0:-0} ))" \
        -v rss="$rss" -v pss="$pss" -v nproc="$nproc" -v rss0="${m0%% *}" 'BEGIN{
          wall = (t1 - t0) / 1e9; tc = (u1 - u0) / 1e9; dc = (dn1 - dn0) / 1e9; sc = (s1 - s0) / 1e9; lc = (l1 - l0) / 1e9
          busy = (b1 - b0) / tck; other = busy - tc - dc - sc - lc; if (other < 0) other = 0
          oc = wall > 0 ? other / wall : 0
          printf "{\"target\":\"%s\",\"round\":%d,\"rep\":%d,\"loadgen_rc\":%d,\"wall_s\":%.3f,\"target_cpu_s\":%.3f,\"dns_cpu_s\":%.3f,", target, round, rep, rc, wall, tc, dc
          printf "\"syslog_cpu_s\":%.3f,\"loadgen_cgroup_cpu_s\":%.3f,\"machine_busy_s\":%.3f,\"other_cores\":%.3f,\"noisy\":%s,", sc, lc, busy, oc, (oc > nmax ? "true" : "false")
          printf "\"dns_queries\":%d,\"rss_kib\":%d,\"pss_kib\":%d,\"procs\":%d,\"rss_kib_before\":%d}", q, rss, pss, nproc, rss0 }')
      node -e '
        const fs = require("fs");
        const [file, extra] = process.argv.slice(1);
        let r; try { r = JSON.parse(fs.readFileSync(file, "utf8")); } catch { r = { requests: 0, errors: -1, note: "no JSON from policyload" }; }
        Object.assign(r, JSON.parse(extra));
        process.stdout.write(JSON.stringify(r) + "\n");
      ' "$d/run-c$c-r$rep.json" "$extra" >> "$RESULTS"
      [[ $extra == *'"noisy":false'* ]] && clean=$((clean + 1))
      tail -1 "$RESULTS" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);
        console.error(`run-peer-bench:   ${r.target} c=${r.connections} rep=${r.rep}: ${r.requests} ok, ${r.errors} err, ${r.req_per_s} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, cpu ${r.target_cpu_s}s, dns q ${r.dns_queries}, rss ${Math.round(r.rss_kib/1024)} MiB/${r.procs} procs, other load ${r.other_cores} cores${r.noisy ? " (noisy)" : ""}`)})'
    done
  done
  # post-run decisions (warm caches) for the record
  run_fg loadgen timeout 60 "${lg[@]}" --connections 1 --requests "$nblocks" --duration-s 30 --by-label --label "$label" \
    > "$d/decisions-warm.json" 2> "$d/decisions-warm.err"
  # this target's part of the syslog (the sink writes asynchronously; good enough)
  tail -c +"$((syslog_off + 1))" "$RUN_DIR/syslog.log" > "$d/syslog.log" 2>/dev/null
  cg_stop target
  cg_stop loadgen
  return 0
}

# ---- main ----------------------------------------------------------------------
cmd=${1:-run}
case $cmd in
  down) teardown; log "down"; exit 0 ;;
  -h|--help) sed -n '2,40p' "$SELF"; exit 0 ;;
esac
[ "$cmd" = run ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<< "$DEFAULT_TARGETS"

if [ -z "${PEER_BENCH_GUARDED:-}" ]; then
  install_deps # before the clock starts; has its own time limits
  PEER_BENCH_GUARDED=1 exec timeout -k 10 "$((GLOBAL_TIMEOUT + 30))" bash "$SELF" run "${targets[@]}"
fi
DEADLINE=$(( $(date +%s) + GLOBAL_TIMEOUT ))
trap 'teardown' EXIT
trap 'exit 3' INT TERM
setup
: > "$RESULTS"
{
  echo "# peer bench $(date -u +%FT%TZ) on $(nproc) CPUs, $(uname -r), node $(node --version)"
  echo "# postfwd2: $(/usr/sbin/postfwd2 -V 2>/dev/null | head -1)"
  echo "# policyd-weight: $(dpkg-query -W -f '${Version}' policyd-weight 2>/dev/null), dnsmasq $(dpkg-query -W -f '${Version}' dnsmasq-base 2>/dev/null)"
  echo "# CONNS=\"$CONNS\" REPS=$REPS REQUESTS=$REQUESTS DURATION_S=$DURATION_S WARMUP=$WARMUP VARY=$VARY NOISE_MAX=$NOISE_MAX ROUNDS=${ROUNDS:-1}"
} > "$RUN_DIR/meta.txt"
ROUNDS=${ROUNDS:-1}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { log "ROUNDS must be 1-99, not '$ROUNDS'"; exit 2; }
ROUND=1
while (( ROUND <= ROUNDS )); do
  order=("${targets[@]}")
  if (( ROUND % 2 == 0 )); then
    order=(); for (( i=${#targets[@]}-1; i>=0; i-- )); do order+=("${targets[i]}"); done
  fi
  (( ROUNDS > 1 )) && log "== round $ROUND of $ROUNDS"
  for t in "${order[@]}"; do
    measure_target "$t" || true
    (( $(date +%s) < DEADLINE - 60 )) || { log "global time budget spent"; break 2; }
  done
  ROUND=$((ROUND + 1))
done
node "$PB/report.mjs" "$RESULTS" "$RUN_DIR" > "$RUN_DIR/report.md" || log "report failed"
cat "$RUN_DIR/report.md"
log "results: $RESULTS, report: $RUN_DIR/report.md, per-target files: $RUN_DIR/<target>/"
