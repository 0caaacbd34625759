/**
 * daemon — spawn the real CLI (`node <build>/src/cli.js serve --config F`)
 * for the fuzz, load and fault tests, with a raised open-files limit, and
 * watch it: its log, its memory (VmRSS / VmHWM from /proc), its exit.
 *
 * The CLI is found relative to this compiled file, so the tests work from
 * build/ and from any build-<name>/ directory. The child is started through
 * `sh -c 'ulimit -n N; exec node ...'`: exec keeps the pid, so /proc/<pid> is
 * the daemon's own; the soft limit is raised as far as the hard limit allows
 * (1,000 client connections need ~1,000 descriptors on the daemon's side).
 *
 * Log lines (JSON on stdout) are parsed, except the per-request "decision"
 * lines, which are only counted (a load run writes 100,000 of them). At most
 * MAX_LINES other lines are kept; lines with an error code are all counted.
 *
 * What can go wrong: a daemon that does not log "started" within the timeout
 * is killed and start() rejects with its stderr and first log lines; stop()
 * SIGKILLs after its timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS, UNIT_NODE_OPTIONS } from '../../src/cli.js';

export const CLI_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli.js');

const MAX_LINES = 20_000;

export type LogLine = Record<string, unknown>;

/** One /proc/<pid>/status field in kB (VmRSS, VmHWM, ...); 0 when the process is gone. */
export function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'VmSize' | 'Threads'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The soft limit on open files of this process (from /proc/self/limits). */
export function openFilesLimit(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined) => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

export class SpawnedDaemon {
  readonly lines: LogLine[] = [];
  /** "decision" log lines seen (counted, not kept) */
  decisions = 0;
  /** log lines per error code, all of them (also beyond MAX_LINES) */
  readonly codes = new Map<string, number>();
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  private waiters = new Set<() => void>();

  private constructor(readonly child: ChildProcess, logFile?: string) {
    let buf = '';
    const onData = (d: string) => {
      buf += d;
      let start = 0;
      for (;;) {
        const nl = buf.indexOf('\n', start);
        if (nl === -1) break;
        const line = buf.slice(start, nl);
        start = nl + 1;
        // hot: skip JSON.parse for the per-request lines
        if (line.includes('"msg":"decision"')) {
          this.decisions++;
          continue;
        }
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          parsed = { raw: line };
        }
        if (typeof parsed.code === 'string') this.codes.set(parsed.code, (this.codes.get(parsed.code) ?? 0) + 1);
        if (this.lines.length < MAX_LINES) this.lines.push(parsed);
      }
      buf = buf.slice(start);
      this.wake();
    };
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', onData);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      if (this.stderr.length < 100_000) this.stderr += d;
      this.wake();
    });
    this.exited = new Promise((res) =>
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.wake();
        res();
      }),
    );
    if (logFile !== undefined) this.tail(logFile, onData);
  }

  /** follow a log file (config log.destination) as if it were stdout, until the child exits */
  private tail(file: string, onData: (d: string) => void): void {
    let offset = 0;
    const chunk = Buffer.alloc(1 << 20);
    const decoder = new StringDecoder('utf8'); // a read may end inside a multi-byte character
    const poll = () => {
      let fd: number;
      try {
        fd = openSync(file, 'r');
      } catch {
        return; // not created yet
      }
      try {
        for (;;) {
          const n = readSync(fd, chunk, 0, chunk.length, offset);
          if (n <= 0) break;
          offset += n;
          onData(decoder.write(chunk.subarray(0, n)));
        }
      } finally {
        closeSync(fd);
      }
    };
    const timer = setInterval(poll, 50);
    void this.exited.then(() => {
      clearInterval(timer);
      poll();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /**
   * Start `serve --config configFile`. logFile: the config's log.destination when it is a
   * file (followed instead of stdout).
   */
  static async start(configFile: string, opts: { nofile?: number; timeoutMs?: number; args?: string[]; logFile?: string } = {}): Promise<SpawnedDaemon> {
    const nofile = opts.nofile ?? 4096;
    // raise the soft limit to nofile, or to the hard limit when that is lower
    const script = `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec env -u NODE_OPTIONS -u NODE_V8_COVERAGE "$0" "$@"`;
    // Without tap's loader and V8 coverage: the figures (RSS, latency) are the daemon's own.
    // Deleting them from env is not enough: tap's processinfo re-adds NODE_OPTIONS to
    // every spawn, so the shell removes them again right before exec (env -u).
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.NODE_V8_COVERAGE;
    // the Node flags production runs with (the bin's shebang, npm start; the unit's heap limit)
    const child = spawn('/bin/sh', ['-c', script, process.execPath, ...NODE_FLAGS, ...UNIT_NODE_OPTIONS, CLI_PATH, 'serve', '--config', configFile, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    const d = new SpawnedDaemon(child, opts.logFile);
    const ok = await d.waitFor((l) => l.msg === 'started', opts.timeoutMs ?? 20_000);
    if (!ok) {
      child.kill('SIGKILL');
      throw new Error(`daemon did not start; exit ${d.exitCode}\nstderr: ${d.stderr}\nlog: ${JSON.stringify(d.lines.slice(0, 10))}`);
    }
    return d;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** the first kept log line (from index `from`) matching pred; undefined on timeout or exit */
  async waitFor(pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine | undefined> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.lines.length; i++) if (pred(this.lines[i]!)) return this.lines[i];
      if (!this.running || Date.now() >= end) return undefined;
      await new Promise<void>((res) => {
        const w = () => {
          clearTimeout(t);
          this.waiters.delete(w);
          res();
        };
        const t = setTimeout(w, Math.max(1, end - Date.now()));
        this.waiters.add(w);
      });
    }
  }

  /** the TCP port of the first policy listener (from the "listening" line) */
  port(): number {
    const l = this.lines.find((x) => x.msg === 'listening');
    const first = (l?.listen as string[] | undefined)?.[0] ?? '';
    return Number(first.split(':').pop());
  }

  /** kept log lines with this error code */
  withCode(code: string): LogLine[] {
    return this.lines.filter((l) => l.code === code);
  }

  /** log lines at level error or fatal */
  errors(): LogLine[] {
    return this.lines.filter((l) => l.level === 'error' || l.level === 'fatal');
  }

  /** resident set now and its peak so far, in MB */
  memory(): { rssMb: number; peakMb: number } {
    return { rssMb: procStatusKb(this.pid, 'VmRSS') / 1024, peakMb: procStatusKb(this.pid, 'VmHWM') / 1024 };
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGTERM, wait for the exit (SIGKILL after timeoutMs); resolves with the exit code */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(t);
    }
    return this.exitCode;
  }
}
