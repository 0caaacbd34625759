#!/usr/bin/env bash
# test/e2e/run.sh — the end-to-end suite: policyd-identity behind a real
# Postfix, judging SMTP identities served by a real DNS server (dnsmasq), all
# inside a throwaway network namespace that has nothing but loopback.
#
#   sudo test/e2e/run.sh [CASES_FILE]        (default test/e2e/cases.txt)
#
# Environment:
#   PI_E2E_CLI     the daemon's cli.js (default <repo>/build/src/cli.js)
#   PI_E2E_ONLY    extended regex: run only the cases whose id matches
#   PI_E2E_BUDGET  seconds for setup + cases (default 210); teardown comes after
#   PI_E2E_KEEP=1  keep the run directory even when every case passed
#
# Output: "PASS <id>: ..." or "FAIL <id>: ..." per case (a failed case is
# followed by its Postfix reply and the daemon's decision log lines, indented),
# then two whole-run checks (daemon-logs: no error/fatal line; postfix-log: no
# fatal/panic line), then "N passed, N failed". Exit 0 only when every case ran and passed,
# 1 when a case failed, 2 when setup failed.
#
# Names are per run (netns pi-e2e-<pid>, run dir /tmp/pi-e2e-<pid>), so runs
# never collide; fixed ports are used only inside the private namespace.
# Teardown (trap on EXIT, INT, TERM): Postfix is stopped, every process this
# script started is signalled by its recorded PID (process group), whatever is
# still inside the namespace (`ip netns pids`) is killed, the namespace and
# /etc/netns/<name> are deleted. The run directory is removed on success and
# kept on failure (maillog, daemon-*.log, dnsmasq.log, cases/<id>.*).
#
# What can go wrong: a missing tool or a daemon that does not come up ends the
# run with exit 2 and its output; a hung SMTP session is cut after 30 s.
set -u -o pipefail
PATH=/usr/sbin:/sbin:$PATH

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# --- a raw SMTP client for what swaks cannot do: no HELO/EHLO at all, or
# several messages in one session. raw PORT XCLIENT HELO FROMS TO runs inside
# the namespace and prints a swaks-style transcript (" -> " sent, "<-  " 2xx/3xx
# reply, "<** " 4xx/5xx reply). HELO "" = none; FROMS: comma-separated senders,
# one message each (a refused message is RSET and the next one tried).
raw_smtp() {
  local port=$1 xclient=$2 helo=$3 froms=$4 to=$5 from r ok
  local -a senders rcpts
  exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "*** cannot connect to 127.0.0.1:$port"; return 1; }
  reply() { # 0: 2xx/3xx, 1: 4xx/5xx, 2: connection closed
    local l
    while IFS= read -r -t 20 l <&3; do
      l=${l%$'\r'}
      [[ $l =~ ^([0-9]{3})([ -]|$) ]] || continue
      if [[ ${BASH_REMATCH[1]} == [23]* ]]; then echo "<-  $l"; else echo "<** $l"; fi
      [ "${BASH_REMATCH[2]}" = - ] && continue
      [[ ${BASH_REMATCH[1]} == [23]* ]] && return 0
      return 1
    done
    echo "*** Remote host closed connection unexpectedly."
    return 2
  }
  send() { echo " -> $1"; printf '%s\r\n' "$1" >&3; }
  reply || return 0
  if [ -n "$helo" ]; then send "EHLO $helo"; reply || return 0; fi
  if [ -n "$xclient" ]; then
    send "XCLIENT $xclient"; reply || return 0
    if [ -n "$helo" ]; then send "EHLO $helo"; reply || return 0; fi
  fi
  IFS=, read -ra senders <<< "$froms"
  [ ${#senders[@]} = 0 ] && senders=("")
  IFS=, read -ra rcpts <<< "$to"
  for from in "${senders[@]}"; do
    send "MAIL FROM:<$from>"; reply; r=$?
    [ $r = 2 ] && return 0
    if [ $r = 0 ]; then
      ok=0
      for to in "${rcpts[@]}"; do
        send "RCPT TO:<$to>"; reply; r=$?
        [ $r = 2 ] && return 0
        [ $r = 0 ] && ok=1
      done
      if [ $ok = 1 ]; then
        send DATA; reply; r=$?
        [ $r = 2 ] && return 0
        if [ $r = 0 ]; then
          echo " -> (body)"; printf 'Subject: e2e\r\n\r\nhello\r\n.\r\n' >&3
          reply; [ $? = 2 ] && return 0
          continue
        fi
      fi
    fi
    send RSET; reply || return 0
  done
  send QUIT; reply
  return 0
}
if [ "${1:-}" = raw ]; then shift; raw_smtp "$@"; exit $?; fi

CLI=${PI_E2E_CLI:-$REPO/build/src/cli.js}
ONLY=${PI_E2E_ONLY:-}
BUDGET=${PI_E2E_BUDGET:-210}
KEEP=${PI_E2E_KEEP:-0}
CASES=${1:-$HERE/cases.txt}
NETNS=pi-e2e-$$
RUN=/tmp/pi-e2e-$$
CONF=$RUN/conf
DEADLINE=$(( $(date +%s) + BUDGET ))
SERVFAIL_PORT=5399
SILENT_PORT=5400
LOCAL_CLIENTS="203.0.113.10 203.0.113.20"
DAEMONS=(main warn actions slow spf)
declare -A VIA_PORT=([tcp]=2525 [unix]=2526 [spawn]=2527 [warn]=2528 [actions]=2529
  [down]=2530 [down-dunno]=2531 [slow]=2532 [slow-dunno]=2533 [stages]=2534 [stages-actions]=2535
  [spf]=2536 [eom]=2537)
DAEMON_LOGS=("$RUN/daemon-main.log" "$RUN/daemon-warn.log" "$RUN/daemon-actions.log"
  "$RUN/daemon-slow.log" "$RUN/daemon-spf.log" "$RUN/tmp/daemon-spawn.log")

say() { printf 'run.sh: %s\n' "$*" >&2; }
nsx() { ip netns exec "$NETNS" "$@"; }
left() { echo $(( DEADLINE - $(date +%s) )); }
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

# --- processes ------------------------------------------------------------------
# start_bg NAME CMD...: CMD inside the namespace as the leader of its own process
# group (setsid; ip netns exec execs, so $! is CMD's PID), output to NAME.out
start_bg() {
  local name=$1; shift
  setsid ip netns exec "$NETNS" "$@" > "$RUN/$name.out" 2>&1 < /dev/null &
  echo $! > "$RUN/pids/$name"
  disown $!
}

# wait_listen tcp|udp PORT | unix PATH [NAME]: up to 10 s; gives up at once
# when the process started as NAME (start_bg) has exited
wait_listen() {
  local i
  for ((i = 0; i < 100; i++)); do
    if [ -n "${3:-}" ] && ! kill -0 "$(cat "$RUN/pids/$3")" 2> /dev/null; then return 1; fi
    case $1 in
      tcp) [ -n "$(nsx ss -Hltn "sport = :$2" 2>/dev/null)" ] && return 0 ;;
      udp) [ -n "$(nsx ss -Hlun "sport = :$2" 2>/dev/null)" ] && return 0 ;;
      unix) [ -S "$2" ] && return 0 ;;
    esac
    sleep 0.1
  done
  return 1
}

teardown() {
  local f pid i pids
  trap - EXIT INT TERM
  set +e
  if [ -f "$CONF/main.cf" ] && [ -f "$RUN/queue/pid/master.pid" ]; then
    timeout -k 2 15 postfix -c "$CONF" stop > /dev/null 2>&1
  fi
  [ -f "$RUN/pids/daemon-slow" ] && kill -CONT "$(cat "$RUN/pids/daemon-slow")" 2> /dev/null
  for f in "$RUN"/pids/*; do
    [ -f "$f" ] || continue
    pid=$(tr -dc 0-9 < "$f")
    [ -n "$pid" ] && kill -TERM -- "-$pid" 2> /dev/null
  done
  for ((i = 0; i < 50; i++)); do
    pids=$(ip netns pids "$NETNS" 2> /dev/null)
    [ -z "$pids" ] && break
    sleep 0.1
  done
  # whatever is still inside our namespace is ours: Postfix children, spawned daemons
  pids=$(ip netns pids "$NETNS" 2> /dev/null)
  for pid in $pids; do say "still running after TERM, killed: $pid $(tr '\0' ' ' < /proc/$pid/cmdline)"; done
  [ -n "$pids" ] && kill -KILL $pids 2> /dev/null
  for f in "$RUN"/pids/*; do
    [ -f "$f" ] || continue
    pid=$(tr -dc 0-9 < "$f")
    [ -n "$pid" ] && kill -KILL -- "-$pid" 2> /dev/null
  done
  if ip netns list 2> /dev/null | awk '{print $1}' | grep -qxF "$NETNS"; then
    ip netns delete "$NETNS" || say "warning: could not delete netns $NETNS"
  fi
  rm -rf "/etc/netns/$NETNS"
  # never delete through a mount (the checkout is bind-mounted at $RUN/repo
  # only inside Postfix's mount namespace, but make sure)
  if mountpoint -q "$RUN/repo" 2> /dev/null; then
    say "warning: $RUN/repo is still a mount point; $RUN left in place"
  elif [ "${RESULT:-1}" = 0 ] && [ "$KEEP" != 1 ]; then
    rm -rf "$RUN"
  else
    say "artifacts kept in $RUN"
  fi
}

# --- setup ----------------------------------------------------------------------
setup() {
  local t name
  [ "$(id -u)" = 0 ] || { say "must run as root (network namespaces, Postfix)"; return 1; }
  for t in ip ss postfix swaks dnsmasq node setsid timeout runuser; do
    command -v "$t" > /dev/null || { say "missing: $t (Debian: postfix swaks dnsmasq-base iproute2)"; return 1; }
  done
  [ -f "$CLI" ] || { say "daemon not built: $CLI (run tsc first)"; return 1; }
  [ -f "$CASES" ] || { say "no cases file $CASES"; return 1; }

  mkdir -p "$CONF" "$RUN/queue" "$RUN/data" "$RUN/pids" "$RUN/cases" || return 1
  chmod 755 "$RUN"
  chown postfix "$RUN/data"
  mkdir -m 1777 "$RUN/tmp" # for the spawn(8) daemons, which run as nobody
  touch "$RUN/maillog"

  # the namespace: loopback only, its own resolv.conf and hosts
  mkdir -p "/etc/netns/$NETNS"
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "/etc/netns/$NETNS/resolv.conf"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "/etc/netns/$NETNS/hosts"
  # Postfix's own peer lookups (getnameinfo) must ask that DNS, whatever the host's nsswitch says
  if [ -f /etc/nsswitch.conf ]; then
    sed 's/^hosts:.*/hosts: files dns/' /etc/nsswitch.conf > "/etc/netns/$NETNS/nsswitch.conf"
  fi
  ip netns add "$NETNS" || return 1
  nsx ip link set lo up || return 1
  [ "$(nsx ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')" = "lo " ] || { say "namespace has links besides lo"; return 1; }
  [ -z "$(nsx ip route show)$(nsx ip -6 route show | grep -v '^::1 \|^fe80::/64 ' )" ] || { say "namespace has routes besides loopback"; return 1; }
  # client addresses for sessions without XCLIENT (xclient field "local:ADDR"),
  # on lo: still loopback, Postfix sees a real peer and does its own lookups
  for t in $LOCAL_CLIENTS; do nsx ip addr add "$t/32" dev lo || return 1; done

  # DNS: helpers that misbehave (SERVFAIL for every query; silence), then dnsmasq
  start_bg dns-servfail node -e '
    const s = require("dgram").createSocket("udp4");
    s.on("message", (m, r) => { if (m.length < 12) return; m[2] |= 0x80; m[3] = (m[3] & 0x70) | 0x82; s.send(m, r.port, r.address); });
    s.bind(Number(process.argv[1]), "127.0.0.1");' "$SERVFAIL_PORT"
  start_bg dns-silent node -e 'require("dgram").createSocket("udp4").bind(Number(process.argv[1]), "127.0.0.1")' "$SILENT_PORT"
  sed -e "s/@SERVFAIL_PORT@/$SERVFAIL_PORT/g" -e "s/@SILENT_PORT@/$SILENT_PORT/g" "$HERE/zone.conf" > "$RUN/zone.conf"
  start_bg dnsmasq dnsmasq -k --conf-file="$RUN/zone.conf" --log-facility="$RUN/dnsmasq.log" --pid-file=
  wait_listen udp "$SERVFAIL_PORT" dns-servfail && wait_listen udp "$SILENT_PORT" dns-silent || { say "DNS helpers did not start"; cat "$RUN"/dns-*.out >&2; return 1; }
  wait_listen tcp 53 dnsmasq || { say "dnsmasq did not start"; cat "$RUN/dnsmasq.out" >&2; return 1; }

  # the daemons: base config + their own part; refused configs end the run here
  for name in "${DAEMONS[@]}" spawn; do
    sed "s|@RUN@|$RUN|g" "$HERE/daemons/base.yaml.in" "$HERE/daemons/$name.yaml.in" > "$RUN/$name.yaml"
    chmod 644 "$RUN/$name.yaml"
  done
  # (Postfix starts the spawn daemon: check its config now, where errors are visible)
  node "$CLI" check-config -q --config "$RUN/spawn.yaml" > "$RUN/spawn.check" 2>&1 \
    || { say "config spawn refused:"; cat "$RUN/spawn.check" >&2; return 1; }
  for name in "${DAEMONS[@]}"; do start_bg "daemon-$name" node "$CLI" serve --config "$RUN/$name.yaml"; done
  for name in main:10040 warn:10041 actions:10042 slow:10043 spf:10044; do
    wait_listen tcp "${name#*:}" "daemon-${name%%:*}" || { say "daemon ${name%%:*} did not listen:"; tail -20 "$RUN/daemon-${name%%:*}.out" >&2; return 1; }
  done
  wait_listen unix "$RUN/policy.sock" || { say "main daemon has no UNIX socket"; return 1; }
  kill -STOP "$(cat "$RUN/pids/daemon-slow")" || return 1

  # Postfix
  sed "s|@RUN@|$RUN|g" "$HERE/main.cf.in" > "$CONF/main.cf"
  # spawn(8) runs the daemon as nobody, who may not traverse the directories
  # above the checkout (/root is 0700): Postfix gets the checkout bind-mounted
  # at $RUN/repo, in the private mount namespace `ip netns exec` makes for it
  # (gone with its last process; the host's mounts are untouched).
  local spawn_cli=$CLI
  [[ $CLI == "$REPO"/* ]] && spawn_cli=$RUN/repo/${CLI#"$REPO"/}
  mkdir -p "$RUN/repo"
  sed -e "s|@RUN@|$RUN|g" -e "s|@CLI@|$spawn_cli|g" -e "s|@NODE@|$(command -v node)|g" "$HERE/master.cf.in" > "$CONF/master.cf"
  printf '/^(X-Policy-Identity|Authentication-Results|Received-SPF):/ WARN\n' > "$CONF/header_checks"
  timeout 30 ip netns exec "$NETNS" postfix -c "$CONF" check > "$RUN/postfix-check.out" 2>&1 || { cat "$RUN/postfix-check.out" >&2; return 1; }
  # shellcheck disable=SC2016
  timeout 30 ip netns exec "$NETNS" sh -c '
    mount --bind "$1" "$2" || exit 1
    runuser -u nobody -- "$3" -e "require(\"fs\").accessSync(process.argv[1])" "$4" \
      || { echo "user nobody cannot run $3 $4 (spawn(8) needs it)"; exit 1; }
    exec postfix -c "$5" start' sh "$REPO" "$RUN/repo" "$(command -v node)" "$spawn_cli" "$CONF" \
    > "$RUN/postfix-start.out" 2>&1 || { cat "$RUN/postfix-start.out" >&2; return 1; }
  for name in "${VIA_PORT[@]}"; do
    wait_listen tcp "$name" || { say "Postfix does not listen on $name"; tail -20 "$RUN/maillog" >&2; return 1; }
  done
  return 0
}

# --- one case -------------------------------------------------------------------
# classify TRANSCRIPT: CODE (the first 4xx/5xx reply code; else 250 when a
# message was accepted; else none), STAGE (the command that got it: XCLIENT
# EHLO HELO MAIL RCPT DATA DOT), DISC (1: the server closed the connection),
# TEXT (that reply)
classify() {
  local line word stage=CONNECT body=0 accepted=
  CODE=none STAGE=CONNECT DISC=0 TEXT=""
  while IFS= read -r line; do
    case $line in
      ' -> '*)
        if [ $body = 0 ]; then
          word=${line:4}; word=${word%%[ :]*}; word=${word^^}
          case $word in XCLIENT|EHLO|HELO|MAIL|RCPT|DATA|RSET|QUIT) stage=$word ;; esac
        fi ;;
      '<-  354'*) body=1; stage=DOT ;;
      '<** '*)
        body=0
        [ "$CODE" = none ] && { CODE=${line:4:3}; STAGE=$stage; TEXT=${line:4}; } ;;
      '<-  '*)
        [ $body = 1 ] && [[ $line == *'queued as'* ]] && [ -z "$accepted" ] && accepted=${line:4}
        body=0 ;;
      *'closed connection unexpectedly'*) DISC=1 ;;
    esac
  done < "$1"
  if [ "$CODE" = none ] && [ -n "$accepted" ]; then CODE=250 STAGE=DOT TEXT=$accepted; fi
  [ "$CODE" = none ] && STAGE=$stage
  return 0
}

# reply_ok EXPECT: 250 | 4xx | 5xx | NNN, then optionally @STAGE, then
# optionally +closed (the server closed the connection after that reply)
reply_ok() {
  local e=$1 want stage=
  if [[ $e == *+closed ]]; then [ "$DISC" = 1 ] || return 1; e=${e%+closed}; fi
  want=${e%%@*}
  [[ $e == *@* ]] && stage=${e#*@}
  [ -n "$stage" ] && [ "$stage" != "$STAGE" ] && return 1
  case $want in
    250) [ "$CODE" = 250 ] && [ "$DISC" = 0 ] ;;
    4xx) [[ $CODE == 4?? ]] ;;
    5xx) [[ $CODE == 5?? ]] ;;
    *) [ "$CODE" = "$want" ] ;;
  esac
}

# what this case added to the Postfix log and the daemons' logs
snapshot_offsets() {
  local f
  MLOG_OFF=$(stat -c %s "$RUN/maillog" 2> /dev/null || echo 0)
  # the daemons write their info lines in batches (once a second): a line of
  # the previous case can land after this offset, so lines stamped before the
  # case began are left out of its log (collect_logs)
  CASE_T0=$(date +%s%3N)
  DLOG_OFF=()
  for f in "${DAEMON_LOGS[@]}"; do DLOG_OFF+=("$(stat -c %s "$f" 2> /dev/null || echo 0)"); done
}
collect_logs() { # collect_logs ID
  local i
  tail -c +"$((MLOG_OFF + 1))" "$RUN/maillog" > "$RUN/cases/$1.maillog" 2> /dev/null
  : > "$RUN/cases/$1.dlog"
  for i in "${!DAEMON_LOGS[@]}"; do
    [ -f "${DAEMON_LOGS[$i]}" ] && tail -c +"$((DLOG_OFF[i] + 1))" "${DAEMON_LOGS[$i]}" \
      | awk -v t0="$CASE_T0" 'match($0, /"time":[0-9]+/) { if (substr($0, RSTART + 7, RLENGTH - 7) + 0 < t0 + 0) next } { print }' \
      >> "$RUN/cases/$1.dlog"
  done
}

# one_assertion ID A: 0 when assertion A holds for case ID's logs
#   mlog~RE  mlog!~RE  mlog#N~RE  dlog~RE  dlog!~RE  dlog#N~RE  fired=ID  !fired=ID
one_assertion() {
  local id=$1 a=$2 n
  local m="$RUN/cases/$id.maillog" d="$RUN/cases/$id.dlog"
  case $a in
    'mlog~'*) grep -Eq -- "${a#mlog~}" "$m" ;;
    'mlog!~'*) ! grep -Eq -- "${a#mlog!~}" "$m" ;;
    'mlog#'*)
      n=${a#mlog#}; n=${n%%~*}
      [ "$(grep -Ec -- "${a#mlog#*~}" "$m")" = "$n" ] ;;
    'dlog~'*) grep -Eq -- "${a#dlog~}" "$d" ;;
    'dlog!~'*) ! grep -Eq -- "${a#dlog!~}" "$d" ;;
    'dlog#'*)
      n=${a#dlog#}; n=${n%%~*}
      [ "$(grep -Ec -- "${a#dlog#*~}" "$d")" = "$n" ] ;;
    'fired='*) grep -Eq -- "\"fired\":\[[^]]*\"${a#fired=}\"" "$d" ;;
    '!fired='*) ! grep -Eq -- "\"fired\":\[[^]]*\"${a#!fired=}\"" "$d" ;;
    *) echo "bad assertion: $a" >&2; return 2 ;;
  esac
}

# run_case ID VIA EXPECT XCLIENT HELO FROM TO ASSERTIONS -> prints PASS/FAIL, returns 0/1
run_case() {
  local id=$1 via=$2 expect=$3 xclient=$4 helo=$5 from=$6 to=$7 asserts=$8
  local port=${VIA_PORT[$via]:-} t="$RUN/cases/$id.txt" i a why= got
  local -a list=() failed=()
  if [ -z "$port" ]; then echo "FAIL $id: unknown via \"$via\""; return 1; fi
  [ "$xclient" = - ] && xclient=
  [ "$from" = '<>' ] && from=
  snapshot_offsets
  if [ "$helo" = - ] || [[ $from == *,* ]]; then
    [ "$helo" = - ] && helo=
    timeout -k 2 30 ip netns exec "$NETNS" bash "$HERE/run.sh" raw "$port" "$xclient" "$helo" "$from" "$to" > "$t" 2>&1 < /dev/null
  else
    local -a args=(--server 127.0.0.1 --port "$port" --timeout 25 --helo "$helo" --from "${from:-<>}" --to "$to")
    if [[ $xclient == local:* ]]; then args+=(--local-interface "${xclient#local:}")
    elif [ -n "$xclient" ]; then args+=(--xclient "$xclient"); fi
    timeout -k 2 30 ip netns exec "$NETNS" swaks "${args[@]}" > "$t" 2>&1 < /dev/null
  fi
  classify "$t"
  got="$CODE@$STAGE"; [ "$DISC" = 1 ] && got+="+disconnect"
  reply_ok "$expect" || why="reply"
  # assertions: the logs are written asynchronously; poll up to 2.5 s for the positive ones
  if [ -n "$asserts" ] && [ "$asserts" != - ]; then
    IFS=';' read -ra list <<< "$asserts"
    for ((i = 0; i < 25; i++)); do
      collect_logs "$id"
      failed=()
      for a in "${list[@]}"; do a=$(trim "$a"); [ -n "$a" ] && { one_assertion "$id" "$a" || failed+=("$a"); }; done
      [ ${#failed[@]} = 0 ] && break
      sleep 0.1
    done
    [ ${#failed[@]} -gt 0 ] && why="${why:+$why, }log: ${failed[*]}"
  else
    sleep 0.2; collect_logs "$id"
  fi
  if [ -z "$why" ]; then
    echo "PASS $id: expected $expect, got $got${TEXT:+ ($TEXT)}"
    return 0
  fi
  echo "FAIL $id: expected $expect, got $got${TEXT:+ ($TEXT)} [failed: $why]"
  grep -E '^(<\*\*|\*\*\*)' "$t" | head -3 | sed 's/^/    smtp: /'
  grep -h '"msg":"decision"' "$RUN/cases/$id.dlog" | head -4 | sed 's/^/    decision: /'
  grep -hE '"level":"(warn|error|fatal)"' "$RUN/cases/$id.dlog" | head -3 | sed 's/^/    daemon: /'
  grep -hE 'warning|reject|discard|hold' "$RUN/cases/$id.maillog" | head -3 | sed 's/^/    maillog: /'
  return 1
}

run_cases() {
  local pass=0 fail=0 n=0 line rest
  local -a f
  local -A macro=()
  while IFS= read -r line || [ -n "$line" ]; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    # "@NAME = XCLIENT attributes": a client identity, used as the whole xclient field
    if [[ $line =~ ^@([A-Za-z0-9_]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
      macro[${BASH_REMATCH[1]}]=$(trim "${BASH_REMATCH[2]}"); continue
    fi
    # fields are separated by " | " (a bare | may appear inside a regex)
    f=(); rest="$line "
    while [[ $rest == *' | '* ]]; do f+=("$(trim "${rest%% | *}")"); rest=${rest#* | }; done
    f+=("$(trim "$rest")")
    while [ ${#f[@]} -lt 8 ]; do f+=(-); done
    if [[ ${f[3]} == @* ]]; then
      [ -n "${macro[${f[3]#@}]:-}" ] || { echo "FAIL ${f[0]}: undefined identity ${f[3]}"; fail=$((fail + 1)); n=$((n + 1)); continue; }
      f[3]=${macro[${f[3]#@}]}
    fi
    [ -n "$ONLY" ] && ! [[ ${f[0]} =~ $ONLY ]] && continue
    n=$((n + 1))
    if [ "$(left)" -lt 8 ]; then
      echo "FAIL ${f[0]}: not run, the ${BUDGET}s budget is spent"; fail=$((fail + 1)); continue
    fi
    if run_case "${f[@]:0:8}"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  done < "$CASES"
  # whole-run checks: no daemon logged an error, Postfix logged no fatal/panic
  local bad
  bad=$(cat "${DAEMON_LOGS[@]}" 2> /dev/null | grep -E '"level":"(error|fatal)"')
  if [ -z "$bad" ]; then echo "PASS daemon-logs: no error or fatal line in the daemons' logs"; pass=$((pass + 1))
  else echo "FAIL daemon-logs: $(printf '%s\n' "$bad" | wc -l) error/fatal lines"; printf '%s\n' "$bad" | head -5 | sed 's/^/    daemon: /'; fail=$((fail + 1)); fi
  bad=$(grep -E 'postfix/[a-z-]+\[[0-9]+\]: (fatal|panic):' "$RUN/maillog")
  if [ -z "$bad" ]; then echo "PASS postfix-log: no fatal or panic line in the Postfix log"; pass=$((pass + 1))
  else echo "FAIL postfix-log: $(printf '%s\n' "$bad" | wc -l) fatal/panic lines"; printf '%s\n' "$bad" | head -5 | sed 's/^/    maillog: /'; fail=$((fail + 1)); fi
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ] && [ "$n" -gt 0 ]
}

RESULT=2
trap teardown EXIT
trap 'say "interrupted"; exit 3' INT TERM
T0=$(date +%s)
if ! setup; then echo "0 passed, 0 failed (setup failed; see $RUN)"; exit 2; fi
say "up in $(( $(date +%s) - T0 ))s: netns $NETNS, run dir $RUN"
run_cases; RESULT=$?
say "cases done in $(( $(date +%s) - T0 ))s"
exit "$RESULT"
