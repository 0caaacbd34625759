// bench/lib/hostile-dns.mjs — the suite's hostile DNS server
// (test/helpers/hostile-dns.ts, compiled to build/test/helpers/hostile-dns.js)
// run as a child process for bench/hostile.mjs, so its CPU is neither the
// daemon's nor the attacking clients'. One server, no copy of its zones: the
// floods, the slow zone and honest.example are the suite's.
//
//   const dns = await startHostileDnsChild({ slowMs: 3000 });  // parent side
//   dns.server                  '127.0.0.1:PORT' (UDP and TCP)
//   await dns.stats()           { queries, byType, pendingSlow, maxPendingSlow, releasedSlow }
//   await dns.stop()
//
// Run as a script (the child): `node bench/lib/hostile-dns.mjs SLOW_MS`;
// reports { op: 'ready', port } over IPC and exits when the parent goes.
//
// What can go wrong: no build/ (the helper is TypeScript): the child exits 2
// naming `npm run pretest`, and the parent's promise rejects with that text.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
export const HELPER = path.join(ROOT, 'build', 'test', 'helpers', 'hostile-dns.js');

/** Parent side: fork this file as the DNS server. */
export async function startHostileDnsChild({ slowMs = 3000 } = {}) {
  if (!fs.existsSync(HELPER)) throw new Error(`${HELPER} missing: run \`npm run pretest\` (it builds the suite's helpers)`);
  const child = fork(fileURLToPath(import.meta.url), [String(slowMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (c) => reject(new Error(`hostile DNS server exited ${c}`)));
  });
  let chain = Promise.resolve();
  const ask = (msg) => {
    const p = chain.then(() => new Promise((resolve) => { child.once('message', resolve); child.send(msg); }));
    chain = p.catch(() => {});
    return p;
  };
  return {
    pid: child.pid, port, server: `127.0.0.1:${port}`,
    stats: () => ask({ op: 'stats' }),
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.disconnect();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

// ---- child side ---------------------------------------------------------------------
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.send) {
  const { startHostileDns } = await import(pathToFileURL(HELPER).href);
  const h = await startHostileDns({ slowMs: Number(process.argv[2] ?? 3000) });
  process.on('message', (m) => {
    if (m?.op === 'stats') {
      const byType = {};
      for (const t of ['A', 'AAAA', 'MX', 'PTR', 'TXT']) byType[t] = h.count(t);
      process.send({ op: 'stats', queries: h.count(), byType, pendingSlow: h.pending('slow'), maxPendingSlow: h.maxPending('slow'), releasedSlow: h.released('slow') });
    }
  });
  process.on('disconnect', () => { h.stop().finally(() => process.exit(0)); });
  process.send({ op: 'ready', port: h.port });
}
