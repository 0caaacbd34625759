// hostile-pipeline.mjs — issue 13's "unread pipelined requests" attack, measured.
// One connection streams 64 KB requests and never reads answers while the first
// request waits on DNS (a loopback test DNS server that never answers); prints the
// daemon's RSS every second. Loopback only; bounded in time; the daemon is stopped
// at the end. Needs a build (npm run pretest && npm run build).
// usage: node bench/hostile-pipeline.mjs [seconds] [repo root, default: this clone]
import { spawn } from 'node:child_process';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
const secs = Math.min(Number(process.argv[2] ?? 10), 60);
const wt = process.argv[3] ?? fileURLToPath(new URL('..', import.meta.url));
const { startDnsServer } = await import(`${wt}/build/test/helpers/dns-server.js`);
const dns = await startDnsServer({ zone: {} });
dns.setBehaviour(() => ({ mode: 'timeout' }));
const cfg = `${tmpdir()}/pi-hostile-pipeline-${process.pid}.yaml`;
writeFileSync(cfg, `listen: [inet:127.0.0.1:0]\ndns: {servers: ['${dns.server}'], timeout: 5s, tries: 2, deadline: 30s}\nlog: {level: warn}\nallow: {clients: []}\n`);
const d = spawn(process.execPath, ['--max-semi-space-size=4', `${wt}/dist/cli.js`, 'serve', '--config', cfg, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
let port = 0; let buf = '';
await new Promise((res) => d.stdout.on('data', (c) => { buf += c; const m = /"listen":\["inet:127.0.0.1:(\d+)"/.exec(buf); if (m && !port) { port = Number(m[1]); res(); } }));
d.stdout.resume();
const rss = () => Number(readFileSync(`/proc/${d.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
const pad = Array.from({ length: 8 }, (_, i) => 'pad' + i + '=' + 'x'.repeat(7900)).join('\n');
const req = `request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=198.51.100.7\nhelo_name=mail.slow.example\nsender=a@slow.example\nrecipient=b@example.org\n${pad}\n\n`;
const s = net.connect(port, '127.0.0.1');
s.on("error", (e) => { console.log("client socket", e.code); stop = true; }); s.on("close", () => { stop = true; console.log("closed by daemon"); });
s.pause(); // never read answers
let sent = 0; let stop = false;
const pump = () => { while (!stop && s.write(req)) sent++; if (!stop) s.once('drain', pump); };
s.on('connect', pump);
const base = rss(); let peak = base;
console.log(`baseline RSS ${base.toFixed(0)} MB`);
for (let i = 1; i <= secs; i++) { await new Promise((r) => setTimeout(r, 1000)); const r = rss(); peak = Math.max(peak, r); console.log(`t=${i}s RSS ${r.toFixed(0)} MB, requests written ${sent}`); }
stop = true; s.destroy(); d.kill('SIGTERM'); await dns.stop();
console.log(`peak RSS ${peak.toFixed(0)} MB (baseline ${base.toFixed(0)} MB), ${sent} requests (${(sent * req.length / 1048576).toFixed(0)} MiB) written`);
import('node:fs').then((fs) => fs.rmSync(cfg, { force: true })).finally(() => process.exit(0));
