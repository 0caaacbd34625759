// bench/lib/proc.mjs — what the benchmark reads from /proc (Linux only):
// CPU seconds of a process tree, peak and current RSS, the machine's busy
// time and load average, and a few facts about the machine for the report.
//
// CPU comes from /proc/<pid>/stat utime+stime (clock ticks, 10 ms at the
// usual 100 Hz: runs last seconds, so the error is well under 1 %). A tree is
// the pid and its live descendants (/proc/<pid>/task/<tid>/children), so
// node:cluster workers count with their primary. Peak RSS is VmHWM; it is
// reset before a run by writing 5 to /proc/<pid>/clear_refs (needs the
// process to be ours or root), so each run reports its own peak.
//
// What can go wrong: a process that exits between listing and reading is
// skipped (its CPU is lost — the benchmark only measures long-lived daemons).
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';

const TICK = 100; // USER_HZ; Linux reports /proc times in 1/100 s on every architecture
const read = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch { return null; } };

/** pid and all live descendants */
export function treePids(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    if (read(`/proc/${p}/stat`) === null) continue;
    out.push(p);
    let tasks = [];
    try { tasks = fs.readdirSync(`/proc/${p}/task`); } catch { /* gone */ }
    for (const t of tasks) {
      const kids = read(`/proc/${p}/task/${t}/children`);
      if (kids) for (const k of kids.trim().split(/\s+/)) if (k) stack.push(Number(k));
    }
  }
  return out;
}

/** CPU seconds (user + system) of one process, or 0 when gone */
export function cpuOf(pid) {
  const s = read(`/proc/${pid}/stat`);
  if (!s) return 0;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
  return (Number(f[11]) + Number(f[12])) / TICK; // utime #14, stime #15
}
export const treeCpu = (pid) => treePids(pid).reduce((sum, p) => sum + cpuOf(p), 0);
/** { user, sys } CPU seconds of the tree */
export function treeCpuSplit(pid) {
  let user = 0;
  let sys = 0;
  for (const p of treePids(pid)) {
    const s = read(`/proc/${p}/stat`);
    if (!s) continue;
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    user += Number(f[11]) / TICK;
    sys += Number(f[12]) / TICK;
  }
  return { user, sys };
}

/** { rss, hwm } in MiB, summed over the tree */
export function treeMem(pid) {
  let rss = 0;
  let hwm = 0;
  for (const p of treePids(pid)) {
    const s = read(`/proc/${p}/status`) ?? '';
    rss += Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
    hwm += Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0);
  }
  return { rss_mib: +(rss / 1024).toFixed(1), hwm_mib: +(hwm / 1024).toFixed(1) };
}
/** reset VmHWM of every process of the tree to its current RSS */
export function resetPeak(pid) {
  for (const p of treePids(pid)) {
    try { fs.writeFileSync(`/proc/${p}/clear_refs`, '5'); } catch { /* not permitted: the peak then covers the process's life */ }
  }
}

/** busy CPU seconds of the whole machine (user nice system irq softirq steal) */
export function machineBusy() {
  const line = (read('/proc/stat') ?? '').split('\n')[0].trim().split(/\s+/);
  const v = line.slice(1).map(Number);
  return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] ?? 0)) / TICK;
}
export const loadavg = () => os.loadavg().map((x) => +x.toFixed(2));

/** The machine's UDP counters (/proc/net/snmp): datagrams dropped for a full receive buffer, and in errors. */
export function udpCounters() {
  const lines = (read('/proc/net/snmp') ?? '').split('\n').filter((l) => l.startsWith('Udp:'));
  if (lines.length < 2) return { rcvbuf_errors: 0, in_errors: 0 };
  const names = lines[0].split(/\s+/);
  const vals = lines[1].split(/\s+/).map(Number);
  const get = (n) => vals[names.indexOf(n)] ?? 0;
  return { rcvbuf_errors: get('RcvbufErrors'), in_errors: get('InErrors') };
}

export function machineInfo() {
  const cpus = os.cpus();
  let git = '';
  try { git = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }
  let distro = '';
  const osr = read('/etc/os-release');
  if (osr) distro = /PRETTY_NAME="([^"]*)"/.exec(osr)?.[1] ?? '';
  return {
    date: new Date().toISOString(), host_cpus: cpus.length, cpu_model: cpus[0]?.model ?? '?',
    mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1), kernel: os.release(), distro, node: process.version, git,
  };
}
