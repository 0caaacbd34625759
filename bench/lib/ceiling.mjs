// bench/lib/ceiling.mjs — the ceiling: the least a Node policy server can do
// per request. It splits each request into name=value attributes (as any real
// server must) and answers `action=DUNNO`: no checks, no DNS, no logging.
// Whatever this reaches on the machine is the bound for the daemon's socket
// path; the benchmark reports the daemon as a fraction of it.
//
//   node bench/lib/ceiling.mjs [--port 0] [--workers N]
//   prints "listening <port>" on stdout when ready (port 0: an ephemeral one)
//
// Loopback only (127.0.0.1). A line without "=" or a request over 64 KiB is
// answered DEFER_IF_PERMIT and the connection closed; never a crash.
import net from 'node:net';
import cluster from 'node:cluster';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const port = Number(opt('port', '0'));
const workers = Math.max(1, Number(opt('workers', '1')) | 0);
const LIMIT = 65536;

function serve(sock) {
  sock.setNoDelay(true);
  sock.setEncoding('latin1');
  let pending = '';
  let attrs = Object.create(null);
  let count = 0;
  sock.on('data', (chunk) => {
    const text = pending + chunk;
    let from = 0;
    let nl;
    while ((nl = text.indexOf('\n', from)) !== -1) {
      if (nl === from) {
        if (count > 0) sock.write('action=DUNNO\n\n');
        attrs = Object.create(null);
        count = 0;
      } else {
        const eq = text.indexOf('=', from);
        if (eq <= from || eq > nl) { sock.end('action=DEFER_IF_PERMIT bad request\n\n'); pending = ''; return; }
        attrs[text.slice(from, eq)] = text.slice(eq + 1, nl);
        count++;
      }
      from = nl + 1;
    }
    pending = text.slice(from);
    if (pending.length > LIMIT) { sock.end('action=DEFER_IF_PERMIT request too large\n\n'); pending = ''; }
  });
  sock.on('error', () => {});
}

if (workers > 1 && cluster.isPrimary) {
  // workers share the listening socket; the primary picks the port first so all agree
  const probe = net.createServer().listen(port, '127.0.0.1', () => {
    const p = probe.address().port;
    probe.close(() => {
      let up = 0;
      for (let i = 0; i < workers; i++) cluster.fork({ CEILING_PORT: String(p) }).on('message', () => { if (++up === workers) process.stdout.write(`listening ${p}\n`); });
    });
  });
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
} else {
  const server = net.createServer(serve);
  server.listen(Number(process.env.CEILING_PORT ?? port), '127.0.0.1', () => {
    if (cluster.isWorker) process.send('up');
    else process.stdout.write(`listening ${server.address().port}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
