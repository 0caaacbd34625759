/**
 * daemon-process — run the real CLI (`policyd-identity serve ...`) as a child
 * process for lifecycle tests: signals, reload, metrics, workers.
 *
 *   const d = await DaemonProcess.start(['serve', '--config', file]);
 *   const port = d.policyPort();                 // from the "listening" log line
 *   await d.waitFor((l) => l.msg === 'reloaded');
 *   d.signal('SIGHUP'); await d.stop();          // SIGTERM, waits for exit
 *
 * The log (JSON lines on stdout) is kept in `lines`; stderr in `stderr`.
 * Every wait is bounded; stop() SIGKILLs after its timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** the compiled CLI of this build (build/ or build-<name>/) */
export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.js');

export type LogLine = Record<string, unknown>;

export class DaemonProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  exitCode: number | null = null;
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ raw: line });
        }
      }
      this.wake();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.exited = new Promise((res) =>
      child.on('exit', (code) => {
        this.exitCode = code;
        this.wake();
        res(code);
      }),
    );
  }

  static async start(args: string[], opts: { env?: NodeJS.ProcessEnv; readyMsg?: string; timeoutMs?: number } = {}): Promise<DaemonProcess> {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const d = new DaemonProcess(child);
    const ready = opts.readyMsg ?? 'started';
    const ok = await d.waitFor((l) => l.msg === ready, opts.timeoutMs ?? 15_000);
    if (!ok) {
      child.kill('SIGKILL');
      throw new Error(`daemon did not log "${ready}"; exit ${d.exitCode}\nstderr: ${d.stderr}\nlog: ${JSON.stringify(d.lines).slice(0, 2000)}`);
    }
    return d;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** the first log line matching pred, waiting up to timeoutMs; undefined on timeout or exit */
  async waitFor(pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find(pred);
      if (hit) return hit;
      if (this.exitCode !== null || this.child.exitCode !== null || Date.now() >= end) return undefined;
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** wait until at least n log lines (from index `from`) match; returns how many did */
  async waitForCount(pred: (l: LogLine) => boolean, n: number, timeoutMs = 10_000, from = 0): Promise<number> {
    const count = () => this.lines.slice(from).filter(pred).length;
    await this.waitFor(() => count() >= n, timeoutMs, from);
    return count();
  }

  /** ports of the policy listeners, from the "listening" line(s) (one per worker) */
  policyPort(): number {
    const l = this.lines.find((x) => x.msg === 'listening');
    const first = (l?.listen as string[] | undefined)?.[0] ?? '';
    return Number(first.split(':').pop());
  }

  /** the metrics URL from the "metrics endpoint listening" line */
  metricsUrl(): string {
    const l = this.lines.find((x) => x.msg === 'metrics endpoint listening');
    return String(l?.metrics ?? '');
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.exitCode !== null) return this.exitCode;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** GET a URL on loopback; body as text */
export async function scrape(url: string): Promise<{ status: number; body: string; contentType: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text(), contentType: r.headers.get('content-type') ?? '' };
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** the samples of a Prometheus text exposition (comments skipped) */
export function parseExposition(body: string): Sample[] {
  const out: Sample[] = [];
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const matches = (s: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);

/** value of the sample with exactly these labels, e.g. sample(body, 'x_total', { a: 'b' }); undefined if absent */
export function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return parseExposition(body).find((s) => s.name === name && matches(s, labels) && Object.keys(s.labels).length === Object.keys(labels).length)?.value;
}

/** sum of every sample of a metric whose labels include `labels` */
export function sumOf(body: string, name: string, labels: Record<string, string> = {}): number {
  return parseExposition(body).filter((s) => s.name === name && matches(s, labels)).reduce((a, s) => a + s.value, 0);
}

/**
 * Run the CLI once (async: the loopback DNS server of the test lives in this
 * process and must keep answering). Killed after timeoutMs.
 */
export function runCli(args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
  });
}
