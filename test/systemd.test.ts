// systemd units: `systemd-analyze verify` on both units (and the UNIX-socket
// variant of the socket), the `systemd-analyze security` exposure score of the
// service (must stay <= 1.5), and the hardened service really running the
// daemon under a real systemd (test/helpers/systemd-sandbox.sh: systemd as PID 1
// of private namespaces, host file systems read-only), including the Redis
// password handed in as a systemd credential (LoadCredential=) to a redis-server
// with requirepass inside the sandbox, and a wrong password as the control.
import t from 'tap';
import { spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/** the compiled CLI next to this compiled test (build/ or build-<name>/) */
const CLI = resolve(HERE, '..', 'src', 'cli.js');
/** the repository root: units and helpers are read from the sources, not the build dir */
const ROOT = resolve(HERE, '..', '..');
const SERVICE = join(ROOT, 'systemd', 'policyd-identity.service');
const SOCKET = join(ROOT, 'systemd', 'policyd-identity.socket');
const SANDBOX = join(ROOT, 'test', 'helpers', 'systemd-sandbox.sh');
/** bare: systemd (239+) finds it in /usr/local/bin or /usr/bin, wherever npm put it */
const SHIPPED_EXEC = 'policyd-identity';

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * verify checks that ExecStart= exists and is executable. The shipped command
 * (`policyd-identity`, found on systemd's search path) is not installed on a build machine, so the
 * copy verified here runs this build's CLI with node instead; every other line
 * is verified exactly as shipped.
 */
function runnableCopy(t: { ok(v: unknown, msg: string): unknown }, unitText: string): string {
  t.ok(unitText.includes(`ExecStart=${SHIPPED_EXEC} serve --config /etc/policyd-identity/policyd-identity.yaml`), 'the shipped ExecStart line');
  return unitText.replace(`ExecStart=${SHIPPED_EXEC}`, `ExecStart=${process.execPath} ${CLI}`);
}

/**
 * systemd-analyze verify, with this build's man pages on MANPATH: verify runs
 * `man` for every Documentation=man:... and warns when a page is missing.
 */
function verify(dir: string, files: string[]) {
  const man = join(dir, 'man');
  mkdirSync(join(man, 'man8'), { recursive: true });
  mkdirSync(join(man, 'man5'), { recursive: true });
  copyFileSync(join(ROOT, 'dist', 'man', 'policyd-identity.8'), join(man, 'man8', 'policyd-identity.8'));
  copyFileSync(join(ROOT, 'dist', 'man', 'policyd-identity.yaml.5'), join(man, 'man5', 'policyd-identity.yaml.5'));
  return spawnSync('systemd-analyze', ['verify', ...files.map((f) => join(dir, f))], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, MANPATH: man } });
}

t.test('systemd-analyze verify: service, socket (TCP as shipped, and the UNIX-socket variant)', async (t) => {
  t.ok(have('systemd-analyze'), 'systemd-analyze is installed (.ci/run installs the systemd package)');
  const dir = mkdtempSync(join(tmpdir(), 'pi-units-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'policyd-identity.service'), runnableCopy(t, readFileSync(SERVICE, 'utf8')));
  const socketText = readFileSync(SOCKET, 'utf8');
  writeFileSync(join(dir, 'policyd-identity.socket'), socketText);
  const r = verify(dir, ['policyd-identity.service', 'policyd-identity.socket']);
  t.equal(r.status, 0, `verify exit 0\n${r.stdout}${r.stderr}`);
  t.equal(r.stderr.trim(), '', 'no warnings');

  // the commented UNIX-socket lines, switched on, verify too
  const unix = socketText.replace(/^#(ListenStream=\/var\/spool\/postfix\/private\/policyd-identity|SocketUser=postfix|SocketGroup=postfix)$/gm, '$1');
  t.not(unix, socketText, 'the UNIX socket lines are present (commented) in the shipped unit');
  const udir = join(dir, 'unix');
  mkdirSync(udir);
  writeFileSync(join(udir, 'policyd-identity.socket'), unix);
  writeFileSync(join(udir, 'policyd-identity.service'), runnableCopy(t, readFileSync(SERVICE, 'utf8')));
  const u = verify(udir, ['policyd-identity.socket']);
  t.equal(u.status, 0, `verify (unix variant) exit 0\n${u.stdout}${u.stderr}`);

  // the hardening the issue names is all there
  const svc = readFileSync(SERVICE, 'utf8');
  for (const line of [
    'ExecReload=/bin/kill -HUP $MAINPID', 'Restart=on-failure', 'DynamicUser=yes', 'NoNewPrivileges=yes',
    'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX', 'SystemCallFilter=@system-service', 'CapabilityBoundingSet=',
  ]) {
    t.match(svc, new RegExp(`^${line.replace(/[$]/g, '\\$')}$`, 'm'), line);
  }
  t.notMatch(svc, /^MemoryDenyWriteExecute=yes/m, 'MemoryDenyWriteExecute is not set (V8 JIT)');

  // what an admin installs it with: man pages, a bare command, a safety net, credentials
  t.match(svc, /^Documentation=man:policyd-identity\(8\) man:policyd-identity\.yaml\(5\)$/m, 'Documentation= names the man pages');
  t.match(svc, /^ExecStart=policyd-identity serve /m, 'ExecStart= is a bare command name (found in /usr/bin or /usr/local/bin)');
  const mib = (v: string) => Number(/^(\d+)M$/.exec(v)?.[1] ?? NaN);
  const heap = Number(/^Environment=NODE_OPTIONS=--max-old-space-size=(\d+)$/m.exec(svc)?.[1] ?? NaN);
  const high = mib(/^MemoryHigh=(\S+)$/m.exec(svc)?.[1] ?? '');
  const max = mib(/^MemoryMax=(\S+)$/m.exec(svc)?.[1] ?? '');
  t.ok(heap > 0 && high > 0 && max > 0, `heap ${heap} MiB, MemoryHigh ${high}M, MemoryMax ${max}M are set`);
  t.ok(heap + 100 <= high && high < max, 'the V8 heap limit (plus ~100 MiB outside the heap) stays under MemoryHigh, which is under MemoryMax');
  t.match(svc, /^TasksMax=\d+$/m, 'TasksMax');
  t.match(svc, /^#LoadCredential=redis-password:\/etc\/policyd-identity\/redis-password$/m, 'LoadCredential for the Redis password, ready to uncomment');
});

t.test('systemd-analyze security --offline=true: exposure <= 1.5', async (t) => {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', SERVICE], { encoding: 'utf8', timeout: 60_000 });
  const m = /Overall exposure level for policyd-identity\.service: ([0-9.]+)/.exec(r.stdout);
  if (!t.ok(m, 'score line present')) t.comment(r.stdout.slice(-400) + r.stderr);
  const score = Number(m?.[1]);
  t.comment(`systemd-analyze security exposure: ${score} (${execFileSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).split('\n')[0]})`);
  t.ok(score <= 1.5, `exposure ${score} <= 1.5`);
  const open = r.stdout.split('\n').filter((l) => l.startsWith('✗')).map((l) => l.replace(/\s{2,}.*$/, ''));
  t.comment(`not set: ${open.join(', ')}`);
});

/** Run a shell command inside the sandbox's namespaces. */
function inSandbox(pid: number, script: string, input?: string) {
  return spawnSync('nsenter', ['-t', String(pid), '-a', 'sh', '-c', script], { encoding: 'utf8', input, timeout: 60_000 });
}

/**
 * One policy request inside the sandbox's mount and network namespaces (node
 * as the client), over TCP or a UNIX socket. From 127.0.0.1, which
 * allow.clients lets through without any DNS lookup: the answer is DUNNO
 * whatever the checks would say.
 */
function askInSandbox(pid: number, target: { port: number } | { path: string } = { port: 10040 }): string {
  const connect = 'path' in target ? `require('net').connect(${JSON.stringify(target.path)})` : `require('net').connect(${target.port},'127.0.0.1')`;
  const client = `const s=${connect};let b='';s.setEncoding('latin1');
s.on('connect',()=>s.write('request=smtpd_access_policy\\nprotocol_state=RCPT\\nclient_address=127.0.0.1\\n\\n'));
s.on('data',d=>{b+=d;if(b.includes('\\n\\n')){process.stdout.write(b);s.destroy();}});
s.on('error',e=>{process.stdout.write('error '+e.code);});setTimeout(()=>{process.stdout.write('<timeout>');process.exit(0)},8000).unref();`;
  // env -u: tap re-adds its --import loader to NODE_OPTIONS on every spawn, and inside
  // the sandbox a checkout under /tmp (CI clones there) is not visible: node would not start.
  const r = spawnSync('nsenter', ['-t', String(pid), '-m', '-n', 'env', '-u', 'NODE_OPTIONS', '-u', 'NODE_V8_COVERAGE', process.execPath, '-e', client], { encoding: 'utf8', timeout: 20_000 });
  return r.stdout.trim();
}

function waitFor(pred: () => boolean, ms: number): boolean {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    spawnSync('sleep', ['0.1']);
  }
  return pred();
}

/** redis-server inside the sandbox's own network namespace (not the host's loopback) */
const REDIS_PORT = 6390;

const noSandbox =
  process.getuid?.() !== 0 ? 'needs root'
  : !have('unshare') || !have('nsenter') ? 'needs util-linux unshare/nsenter'
  : !existsSync('/lib/systemd/systemd') ? 'needs /lib/systemd/systemd'
  : spawnSync('unshare', ['--pid', '--fork', '--mount', '--net', '--uts', '--ipc', '--cgroup', 'true']).status !== 0 ? 'this machine does not permit new namespaces (unshare failed)'
  : '';

t.test('the hardened unit runs the daemon under a real systemd (sandboxed PID 1)', async (t) => {
  // a missing tool fails here, at once, with its name (test/run-all.sh installs them)
  if (!t.equal(noSandbox, '', `a sandboxed systemd can boot here (root, util-linux unshare/nsenter, /lib/systemd/systemd, namespaces)${noSandbox ? `: ${noSandbox}` : ''}`)) return;
  const work = mkdtempSync(join(tmpdir(), 'pi-sd-'));
  mkdirSync(join(work, 'units'));
  // Test copies: ExecStart runs this build; no sysinit.target exists in the sandbox, so
  // DefaultDependencies=no; no journald either, so output goes to a file systemd opens;
  // ConfigurationDirectory= would create /etc/policyd-identity (read-only here).
  // Every hardening line stays exactly as shipped.
  // The sandbox covers /tmp (and the service has ProtectHome/PrivateTmp), so a
  // checkout under /tmp or /home would be invisible to the daemon: the sandbox
  // bind-mounts this checkout read-only at /run/pi-app and ExecStart runs it there.
  writeFileSync(join(work, 'app-root'), ROOT);
  const svc = runnableCopy(t, readFileSync(SERVICE, 'utf8'))
    .replace(`ExecStart=${process.execPath} ${CLI}`, `ExecStart=${process.execPath} /run/pi-app/${relative(ROOT, CLI)}`)
    .replace('/etc/policyd-identity/policyd-identity.yaml', '/run/pi/config.yaml')
    .replace(/^ConfigurationDirectory.*$/gm, '')
    .replace(/^StandardOutput=.*$/m, 'StandardOutput=append:/run/pi/daemon.log')
    .replace(/^StandardError=.*$/m, 'StandardError=append:/run/pi/daemon.log')
    .replace('[Unit]', '[Unit]\nDefaultDependencies=no');
  writeFileSync(join(work, 'units', 'policyd-identity.service'), svc);
  writeFileSync(join(work, 'units', 'policyd-identity.socket'), readFileSync(SOCKET, 'utf8').replace('[Unit]', '[Unit]\nDefaultDependencies=no'));
  // DNS to a closed loopback port: nothing leaves the sandbox, not even to the system resolver
  writeFileSync(join(work, 'units', 'config.yaml'), 'listen: [inet:127.0.0.1:10040]\ndns:\n  servers: ["127.0.0.1:1"]\n');
  // for the credential test below: the Redis password (and a wrong one) as root-only files
  // (the sandbox copies *-password to /run/pi with mode 0600), and a config that reads it
  // through ${CREDENTIALS_DIRECTORY}, with one rate-limit rule on Redis: 1 RCPT an hour
  const redisPassword = `pi-cred-${randomBytes(12).toString('hex')}`;
  const wrongPassword = `pi-wrong-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(work, 'units', 'redis-password'), `${redisPassword}\n`);
  writeFileSync(join(work, 'units', 'wrong-redis-password'), `${wrongPassword}\n`);
  writeFileSync(join(work, 'units', 'cred.yaml'), `listen: [inet:127.0.0.1:10040]
dns:
  servers: ["127.0.0.1:1"]
limits:
  backend: redis
  redis:
    url: redis://127.0.0.1:${REDIS_PORT}
    password_file: \${CREDENTIALS_DIRECTORY}/redis-password
    prefix: "cred:"
  rules:
    - { id: cred, key: client_address, charge_on: attempts, limit: 1/1h }
`);

  const boot = spawnSync(SANDBOX, ['boot', work], { encoding: 'utf8', timeout: 30_000 });
  t.equal(boot.status, 0, `sandbox booted\n${boot.stderr}`);
  const pid = Number(boot.stdout.trim());
  t.ok(pid > 1, 'sandbox PID 1 found');
  if (!(pid > 1)) return;
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL'); // PID 1 of the namespace: everything in it dies
    } catch {
      // already gone
    }
    rmSync(work, { recursive: true, force: true });
  });

  const start = inSandbox(pid, 'systemctl start policyd-identity.service && systemctl is-active policyd-identity.service');
  t.equal(start.stdout.trim(), 'active', `service active\n${start.stderr}`);
  const main = Number(inSandbox(pid, 'systemctl show -p MainPID --value policyd-identity.service').stdout.trim());
  t.ok(main > 0, 'MainPID');
  if (!t.ok(waitFor(() => inSandbox(pid, 'grep -q listening /run/pi/daemon.log').status === 0, 10_000), 'daemon says listening')) {
    t.comment(inSandbox(pid, 'systemctl status --no-pager policyd-identity.service; tail -n 30 /run/pi/daemon.log').stdout);
    return;
  }
  const status = inSandbox(pid, `cat /proc/${main}/status`).stdout;
  t.match(status, /^NoNewPrivs:\s+1$/m, 'NoNewPrivs');
  t.match(status, /^Seccomp:\s+2$/m, 'seccomp filter active (SystemCallFilter)');
  t.match(status, /^CapEff:\s+0+$/m, 'no effective capabilities');
  t.match(status, /^CapBnd:\s+0+$/m, 'empty capability bounding set');
  t.notMatch(status, /^Uid:\s+0\s/m, 'not root (DynamicUser)');
  t.equal(askInSandbox(pid), 'action=DUNNO', 'answers a policy request');
  t.equal(inSandbox(pid, `touch /work/x 2>&1; touch /usr/x 2>&1`).status, 1, 'sanity: the sandbox itself is read-only');

  const reload = inSandbox(pid, 'systemctl reload policyd-identity.service');
  t.equal(reload.status, 0, 'systemctl reload (ExecReload=kill -HUP)');
  t.ok(waitFor(() => inSandbox(pid, 'grep -q \'"msg":"reloaded"\' /run/pi/daemon.log').status === 0, 10_000), 'daemon logged the reload');
  t.equal(askInSandbox(pid), 'action=DUNNO', 'still answering after reload');

  const stop = inSandbox(pid, 'systemctl stop policyd-identity.service; systemctl show -p Result --value policyd-identity.service');
  t.equal(stop.stdout.trim(), 'success', 'SIGTERM drain: clean stop');
  t.ok(inSandbox(pid, 'grep -q \'"msg":"stopped"\' /run/pi/daemon.log').status === 0, 'stopped line flushed');

  // socket activation: systemd listens, the first connection starts the service with the fd
  const sock = inSandbox(pid, 'systemctl start policyd-identity.socket && systemctl is-active policyd-identity.service');
  t.equal(sock.stdout.trim(), 'inactive', 'socket listening, service not started yet');
  t.equal(askInSandbox(pid), 'action=DUNNO', 'first connection answered by the activated service');
  t.equal(inSandbox(pid, 'systemctl is-active policyd-identity.service').stdout.trim(), 'active', 'service started by the socket');
  t.ok(inSandbox(pid, 'grep -q \'"systemd":true\' /run/pi/daemon.log').status === 0, 'daemon used the passed fd');

  await t.test('the Redis password as a systemd credential (LoadCredential=, DynamicUser)', async (t) => {
    t.equal(inSandbox(pid, 'systemctl stop policyd-identity.socket policyd-identity.service').status, 0, 'stopped socket and service');
    if (!t.ok(have('redis-server') && have('redis-cli'), 'redis-server and redis-cli are installed (test/run-all.sh installs them)')) return;
    // Redis with requirepass, as a unit inside the sandbox (its loopback only); the password
    // lives in this unit file, not in the daemon's config
    const redisUnit = `[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=${execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim()} --port ${REDIS_PORT} --bind 127.0.0.1 --requirepass ${redisPassword} --save "" --appendonly no --dir /tmp --daemonize no\nStandardOutput=append:/run/pi/redis.log\nStandardError=append:/run/pi/redis.log\n`;
    t.equal(inSandbox(pid, 'cat > /run/systemd/system/pi-redis.service && systemctl daemon-reload && systemctl start pi-redis.service', redisUnit).status, 0, 'redis-server unit started');
    const cli = `redis-cli -h 127.0.0.1 -p ${REDIS_PORT} --no-auth-warning -a ${redisPassword}`;
    if (!t.ok(waitFor(() => inSandbox(pid, `${cli} ping`).stdout.trim() === 'PONG', 10_000), 'redis answers PING with the password')) {
      t.comment(inSandbox(pid, 'systemctl status --no-pager pi-redis.service; tail -n 20 /run/pi/redis.log').stdout);
      return;
    }
    t.match(inSandbox(pid, `redis-cli -h 127.0.0.1 -p ${REDIS_PORT} ping`).stdout, /NOAUTH/, 'sanity: redis refuses clients without the password');

    /** a drop-in as an admin writes it with `systemctl edit`: the credential, this test's config, its own log file */
    const dropIn = (source: string, log: string) => `[Service]
LoadCredential=redis-password:${source}
ExecStart=
ExecStart=${process.execPath} /run/pi-app/${relative(ROOT, CLI)} serve --config /run/pi/cred.yaml
StandardOutput=append:${log}
StandardError=append:${log}
`;
    const startWith = (source: string, log: string) => inSandbox(pid,
      'mkdir -p /run/systemd/system/policyd-identity.service.d && cat > /run/systemd/system/policyd-identity.service.d/cred.conf && ' +
      'systemctl daemon-reload && systemctl restart policyd-identity.service && systemctl is-active policyd-identity.service', dropIn(source, log));
    t.teardown(() => { inSandbox(pid, 'rm -rf /run/systemd/system/policyd-identity.service.d; systemctl stop policyd-identity.service; systemctl daemon-reload'); });

    // --- the right password -------------------------------------------------------
    const ok = startWith('/run/pi/redis-password', '/run/pi/cred-ok.log');
    t.equal(ok.stdout.trim(), 'active', `service active with LoadCredential=\n${ok.stderr}`);
    if (!t.ok(waitFor(() => inSandbox(pid, 'grep -q "rate-limit backend connected" /run/pi/cred-ok.log').status === 0, 10_000), 'daemon logged: rate-limit backend connected (authenticated)')) {
      t.comment(inSandbox(pid, 'systemctl status --no-pager policyd-identity.service; tail -n 30 /run/pi/cred-ok.log').stdout);
      return;
    }
    t.ok(waitFor(() => inSandbox(pid, 'grep -q listening /run/pi/cred-ok.log').status === 0, 10_000), 'daemon says listening');
    t.equal(askInSandbox(pid), 'action=DUNNO', 'first RCPT: within the limit (1/1h)');
    t.match(askInSandbox(pid), /^action=450 4\.7\.1 rate limit exceeded/, 'second RCPT: deferred by the rule, counted in Redis');
    t.same(inSandbox(pid, `${cli} --scan --pattern 'cred:*'`).stdout.trim().split('\n'), ['cred:cred:127.0.0.1'], 'the count is a key in Redis (read with the password)');

    // the credential as the service sees it, and the source file as root keeps it
    const main = Number(inSandbox(pid, 'systemctl show -p MainPID --value policyd-identity.service').stdout.trim());
    const environ = inSandbox(pid, `tr '\\0' '\\n' < /proc/${main}/environ`).stdout;
    const credDir = /^CREDENTIALS_DIRECTORY=(.+)$/m.exec(environ)?.[1] ?? '';
    t.equal(credDir, '/run/credentials/policyd-identity.service', 'the daemon has $CREDENTIALS_DIRECTORY');
    const ids = /^Uid:\s+(\d+)/m.exec(inSandbox(pid, `cat /proc/${main}/status`).stdout)?.[1] ?? '0';
    const gid = /^Gid:\s+(\d+)/m.exec(inSandbox(pid, `cat /proc/${main}/status`).stdout)?.[1] ?? '0';
    t.not(ids, '0', `the daemon runs as its dynamic uid ${ids}`);
    const credFile = `${credDir}/redis-password`;
    t.equal(inSandbox(pid, `nsenter -t ${main} -m stat -c '%u %a' ${credFile}`).stdout.trim(), `${ids} 400`, 'the service\'s copy: owned by the dynamic user, mode 0400');
    const asDaemon = (cmd: string) => inSandbox(pid, `nsenter -t ${main} -m setpriv --reuid=${ids} --regid=${gid} --clear-groups ${cmd}`);
    t.equal(asDaemon(`cat ${credFile}`).stdout.trim(), redisPassword, 'the dynamic user reads it through $CREDENTIALS_DIRECTORY');
    t.equal(inSandbox(pid, 'stat -c \'%U %a\' /run/pi/redis-password').stdout.trim(), 'root 600', 'the source file stays root-only (0600)');
    t.not(asDaemon('cat /run/pi/redis-password').status, 0, 'the dynamic user cannot read the source file itself');
    t.equal(inSandbox(pid, `grep -c -F ${redisPassword} /run/pi/cred-ok.log`).stdout.trim(), '0', 'the password is nowhere in the daemon\'s log');
    t.notOk(readFileSync(join(work, 'systemd.log'), 'utf8').includes(redisPassword), 'nor in systemd\'s own output');

    // --- control: a wrong password --------------------------------------------------
    const bad = startWith('/run/pi/wrong-redis-password', '/run/pi/cred-wrong.log');
    t.equal(bad.stdout.trim(), 'active', 'service active with a wrong password (it does not crash)');
    if (!t.ok(waitFor(() => inSandbox(pid, 'grep -q PI_LIMITS_BACKEND_DOWN /run/pi/cred-wrong.log').status === 0, 10_000), 'daemon logged PI_LIMITS_BACKEND_DOWN')) {
      t.comment(inSandbox(pid, 'tail -n 30 /run/pi/cred-wrong.log').stdout);
      return;
    }
    // the daemon waits up to limits.redis.connect_timeout for the backend, then listens without it
    t.ok(waitFor(() => inSandbox(pid, 'grep -q listening /run/pi/cred-wrong.log').status === 0, 10_000), 'daemon says listening, without its backend');
    const wrongLog = inSandbox(pid, 'cat /run/pi/cred-wrong.log').stdout;
    t.match(wrongLog, /"code":"PI_LIMITS_BACKEND_DOWN".*WRONGPASS/, 'the log line carries the code and Redis\'s WRONGPASS reason');
    t.notMatch(wrongLog, /rate-limit backend connected/, 'never connected');
    t.equal(askInSandbox(pid), 'action=DUNNO', 'first RCPT: DUNNO');
    t.equal(askInSandbox(pid), 'action=DUNNO', 'second RCPT: DUNNO too: the rule is skipped (on_backend_failure: skip, fail open)');
    t.equal(inSandbox(pid, 'systemctl show -p NRestarts --value policyd-identity.service; systemctl is-active policyd-identity.service').stdout.trim(), '0\nactive', 'still active, never restarted');
    t.notOk(wrongLog.includes(wrongPassword) || wrongLog.includes(redisPassword), 'neither password is in the log');
  });

  // the UNIX-socket variant for a chrooted smtpd: systemd creates the socket in Postfix's
  // spool, owned by postfix, and the DynamicUser daemon serves it through the passed fd
  const havePostfix = spawnSync('id', ['postfix']).status === 0 && existsSync('/var/spool/postfix/private');
  if (!havePostfix) {
    t.comment('UNIX socket variant not run: no postfix user or /var/spool/postfix/private on this machine');
    return;
  }
  t.equal(inSandbox(pid, 'systemctl stop policyd-identity.socket policyd-identity.service').status, 0, 'stopped socket and service');
  const unixUnit = readFileSync(SOCKET, 'utf8')
    .replace('[Unit]', '[Unit]\nDefaultDependencies=no')
    .replace(/^ListenStream=127\.0\.0\.1:10040$/m, '')
    .replace(/^#(ListenStream=\/var\/spool\/postfix\/private\/policyd-identity|SocketUser=postfix|SocketGroup=postfix)$/gm, '$1');
  t.equal(inSandbox(pid, 'cat > /run/systemd/system/policyd-identity.socket && systemctl daemon-reload && systemctl start policyd-identity.socket', unixUnit).status, 0, 'UNIX socket unit started');
  const path = '/var/spool/postfix/private/policyd-identity';
  t.equal(inSandbox(pid, `stat -c '%U %G %a' ${path}`).stdout.trim(), 'postfix postfix 660', 'socket owned by postfix, mode 0660');
  t.equal(askInSandbox(pid, { path }), 'action=DUNNO', 'answered over the UNIX socket in Postfix\'s spool');
  t.equal(inSandbox(pid, 'systemctl is-active policyd-identity.service').stdout.trim(), 'active', 'service started by the UNIX socket');
});
