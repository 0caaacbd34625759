#!/bin/sh
# systemd-sandbox — run the shipped systemd units under a real systemd, on a
# machine whose PID 1 is not systemd (containers, CI VMs).
#
#   test/helpers/systemd-sandbox.sh boot  WORKDIR   -> prints the sandbox's PID 1
#   (then: nsenter -t PID -a systemctl ..., see test/systemd.test.ts)
#   kill -KILL PID                                    -> ends the sandbox and all in it
#
# How: `unshare` gives systemd its own PID, mount, network (loopback only),
# UTS, IPC and cgroup namespaces, and systemd runs as PID 1 of that PID
# namespace. Before exec'ing systemd the inner part makes the sandbox harmless
# to the host:
#   - every mount is re-mounted read-only in the private mount namespace, and
#     the script aborts unless writing to / really fails;
#   - /run, /tmp, /var/tmp, /var/log, /var/lib/systemd (and Postfix's
#     /var/spool/postfix/private, if present) are empty tmpfs;
#   - the system's unit and generator directories are hidden behind empty
#     tmpfs, so systemd knows only the units in WORKDIR/units (no sysinit.target,
#     no tmpfiles, sysctl, modules-load, journald... nothing of the host's boot);
#   - the network namespace has only `lo`;
#   - mounts are shared among themselves inside the namespace, as on a systemd
#     host (LoadCredential= needs it), never with the host's.
# Why this matters: a first attempt without these guards let systemd pull in
# sysinit.target, whose systemd-tmpfiles-setup emptied the host's /tmp (the
# mount namespace isolates mounts, not file contents).
#
# Needs root, util-linux unshare/nsenter, /lib/systemd/systemd. Exit 2 when
# something is missing, 3 when the read-only guard fails.
set -eu

inner() {
  work=$1
  mount --make-rprivate /
  # read-only everything (each mount point separately; proc/sys/dev are re-made below)
  for mp in $(findmnt -rno TARGET | sort -r); do
    case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
    mount -o remount,bind,ro "$mp" 2>/dev/null || true
  done
  # kernel knobs: /proc/sys, sysrq and /sys read-only too (sysctls are global, not per namespace)
  mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
  mount --bind /proc/sysrq-trigger /proc/sysrq-trigger 2>/dev/null && mount -o remount,bind,ro /proc/sysrq-trigger 2>/dev/null || true
  mount -o remount,bind,ro /sys
  if ( : > /.pi-sandbox-rw-probe ) 2>/dev/null || ( echo 1 > /proc/sys/kernel/core_uses_pid ) 2>/dev/null; then
    rm -f /.pi-sandbox-rw-probe
    echo "systemd-sandbox: / or /proc/sys is still writable, refusing to boot systemd" >&2
    exit 3
  fi
  # units and the test config go to the new /run, read before /tmp is covered
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -p /run/systemd/system /run/pi
  for f in "$work"/units/*; do
    case "$f" in
      *.yaml|*-password) cp "$f" /run/pi/ ;;
      *) cp "$f" /run/systemd/system/ ;;
    esac
  done
  chmod 0755 /run/pi
  chmod 0644 /run/pi/* 2>/dev/null || true
  # secrets (for LoadCredential=) stay root-only, as the docs tell admins
  chmod 0600 /run/pi/*-password 2>/dev/null || true
  # the checkout under test, read-only at /run/pi-app (it may live under /tmp,
  # which is covered next, or under /home, which the unit hides)
  if [ -f "$work/app-root" ]; then
    mkdir -p /run/pi-app
    mount --bind "$(cat "$work/app-root")" /run/pi-app
    mount -o remount,bind,ro /run/pi-app
  fi
  for d in /tmp /var/tmp /var/log /var/lib/systemd; do
    [ -d "$d" ] && mount -t tmpfs -o mode=1777 tmpfs "$d"
  done
  # Postfix's private socket directory, writable here only, for the socket unit's UNIX variant
  if [ -d /var/spool/postfix/private ]; then
    mount -t tmpfs -o mode=0700 tmpfs /var/spool/postfix/private
    chown postfix /var/spool/postfix/private 2>/dev/null || true
  fi
  for d in /usr/lib/systemd/system /etc/systemd/system /usr/lib/systemd/system-generators \
           /etc/systemd/system-generators /usr/lib/systemd/system-preset /lib/systemd/system; do
    [ -d "$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$d"
  done
  # a private cgroup2 tree (systemd needs a writable cgroup hierarchy)
  for mp in $(findmnt -rno TARGET | grep '^/sys/fs/cgroup' | sort -r); do umount "$mp" 2>/dev/null || true; done
  mount -t cgroup2 none /sys/fs/cgroup
  ip link set lo up
  # shared propagation inside this (private) mount namespace, as on a systemd host, where PID 1
  # makes / shared at boot (it skips that in a container, so it is done here). LoadCredential=
  # needs it: systemd writes a service's credentials in a child mount namespace and the mount
  # reaches /run/credentials only by propagation. Measured: without it the service finds an
  # empty, root-only /run/credentials/UNIT. The peer groups are new ones, of this namespace
  # only (unshare --propagation private): nothing propagates to or from the host.
  mount --make-rshared /
  exec env -i container=policyd-sandbox PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=pi-sandbox.target --log-target=console --log-level=notice --show-status=no
}

case "${1:-}" in
  inner)
    inner "$2"
    ;;
  boot)
    work=$2
    for c in unshare nsenter findmnt ip; do command -v "$c" >/dev/null 2>&1 || { echo "systemd-sandbox: $c missing" >&2; exit 2; }; done
    [ -x /lib/systemd/systemd ] || { echo "systemd-sandbox: /lib/systemd/systemd missing" >&2; exit 2; }
    [ "$(id -u)" = 0 ] || { echo "systemd-sandbox: needs root" >&2; exit 2; }
    printf '[Unit]\nDescription=policyd-identity sandbox target\nDefaultDependencies=no\n' > "$work/units/pi-sandbox.target"
    self=$(readlink -f "$0")
    unshare --pid --fork --mount --net --uts --ipc --cgroup --mount-proc --propagation private \
      /bin/sh "$self" inner "$work" > "$work/systemd.log" 2>&1 < /dev/null &
    ushare=$!
    # the sandbox's PID 1 as seen from here is unshare's only child; wait until its manager answers
    i=0
    while [ $i -lt 100 ]; do
      p=$(pgrep -P "$ushare" 2>/dev/null | head -n 1 || true)
      if [ -n "$p" ] && [ "$(cat /proc/"$p"/comm 2>/dev/null)" = systemd ] && \
         nsenter -t "$p" -m test -S /run/systemd/private 2>/dev/null; then
        echo "$p"
        exit 0
      fi
      kill -0 "$ushare" 2>/dev/null || break
      i=$((i + 1))
      sleep 0.1
    done
    echo "systemd-sandbox: systemd did not come up; log:" >&2
    cat "$work/systemd.log" >&2
    exit 1
    ;;
  *)
    echo "usage: $0 boot WORKDIR" >&2
    exit 64
    ;;
esac
