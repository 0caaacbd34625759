// bench/lib/exit-cpu.mjs — preloaded into the daemon (`node --import`) by the
// bench's stdio phase: at exit, writes the process's own CPU time (user and
// system µs, getrusage of the whole process) to the file named by
// BENCH_CPU_OUT, as JSON. Nothing else; without BENCH_CPU_OUT it does nothing.
//
// What can go wrong: a process killed by a signal writes nothing (the bench
// then reports the run as failed).
import fs from 'node:fs';

const out = process.env.BENCH_CPU_OUT;
if (out) {
  process.on('exit', () => {
    const u = process.cpuUsage();
    fs.writeFileSync(out, JSON.stringify({ user_us: u.user, system_us: u.system }));
  });
}
