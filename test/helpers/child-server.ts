/**
 * `posta serve` as a child process (DESIGN.md §7: crash tests), plus a minimal raw SMTP
 * client that knows exactly which reply belongs to which command (the "ledger" needs that,
 * and so does the benchmark's end-of-DATA → 250 latency).
 *
 * The child runs in its own process group (detached), so `kill9()` takes the primary and
 * every cluster worker down at once, like a power cut, and cleanup can never leave a worker
 * behind. Listeners are on 127.0.0.1:0; the real ports come from the `listening` JSON line
 * that every worker (and, with several workers, the primary) logs on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type ServiceName = 'smtp' | 'submission' | 'submissions';
export type Addresses = Partial<Record<ServiceName, { host: string; port: number }>>;

export interface ChildServerOptions {
  /** `--workers N` (default 1). */
  workers?: number;
  /** 'tsx' runs src/ through tsx (no build needed; tests use it); 'dist' runs the built CLI. */
  runtime?: 'tsx' | 'dist';
  hostname?: string;
  primaryDomain?: string;
  /** Log level in the child's config; "info" or lower is needed for the listening line. */
  logLevel?: 'trace' | 'debug' | 'info';
  /** listen.smtp, e.g. "127.0.0.2:2525" (default "127.0.0.1:0"). */
  listenSmtp?: string;
  /** Extra TOML appended to the generated config (whole [sections], not keys of [listen] or [log]). */
  extraToml?: string;
  /** Milliseconds to wait for the listening lines (default 30 s). */
  startTimeoutMs?: number;
  /** Prefix of the temporary directory. */
  tmpPrefix?: string;
  /** Parent of the temporary directory (default: the OS temp dir). */
  tmpParent?: string;
  /** Extra node options before the script, e.g. ['--cpu-prof'] (cluster workers inherit them). */
  nodeArgs?: string[];
  /** Extra environment for the child. */
  env?: Record<string, string>;
}

interface LogLine {
  msg?: string;
  role?: string;
  pid?: number;
  worker?: number;
  addresses?: Addresses;
  [key: string]: unknown;
}

/** A `posta serve` child on a private data dir. Create it with `createChildServer`. */
export class ChildServer {
  /** The temporary directory holding posta.toml and data/. */
  readonly dir: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly workers: number;
  private readonly runtime: 'tsx' | 'dist';
  private readonly startTimeoutMs: number;
  private readonly nodeArgs: string[];
  private readonly env: Record<string, string>;
  private child: ChildProcess | null = null;
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  private workerPids = new Set<number>();
  private addrs: Addresses | null = null;
  /** The last lines of the child's stdout and stderr, for failure messages. */
  private readonly tail: string[] = [];
  private lineWaiters: Array<() => void> = [];
  /** Every `listening` line seen since the last start(), in order. */
  private listening: LogLine[] = [];
  /** How many times the child has been started. */
  starts = 0;

  constructor(options: ChildServerOptions = {}) {
    this.workers = options.workers ?? 1;
    this.runtime = options.runtime ?? 'tsx';
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.nodeArgs = options.nodeArgs ?? [];
    this.env = options.env ?? {};
    this.dir = fs.mkdtempSync(path.join(options.tmpParent ?? os.tmpdir(), options.tmpPrefix ?? 'posta-child-'));
    this.dataDir = path.join(this.dir, 'data');
    this.configPath = path.join(this.dir, 'posta.toml');
    const level = options.logLevel ?? 'info';
    const toml = [
      `hostname = ${JSON.stringify(options.hostname ?? 'mx.child.test')}`,
      `primary_domain = ${JSON.stringify(options.primaryDomain ?? 'child.test')}`,
      `data_dir = ${JSON.stringify(this.dataDir)}`,
      '',
      '[listen]',
      `smtp = ${JSON.stringify(options.listenSmtp ?? '127.0.0.1:0')}`,
      'submission = "127.0.0.1:0"',
      'submissions = "127.0.0.1:0"',
      'imap = ""',
      'imaps = ""',
      'pop3 = ""',
      'pop3s = ""',
      'http = ""',
      '',
      '[log]',
      `level = ${JSON.stringify(level)}`,
      '',
      // Outbound delivery never leaves loopback: nothing answers DNS on port 9.
      options.extraToml?.includes('[dns]') ? '' : '[dns]\nservers = ["127.0.0.1:9"]\ntimeout = "500ms"\n',
      options.extraToml ?? '',
    ].join('\n');
    fs.writeFileSync(this.configPath, toml);
  }

  /** Where each listener is bound (after start()). */
  get addresses(): Addresses {
    if (!this.addrs) throw new Error('the child server is not running');
    return this.addrs;
  }

  port(name: ServiceName = 'smtp'): number {
    const a = this.addresses[name];
    if (!a) throw new Error(`${name} is not listening`);
    return a.port;
  }

  /** The primary's pid, or null when not running. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Worker pids seen in listening lines since the last start (cluster mode only). */
  get workerPidList(): number[] {
    return [...this.workerPids];
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Recent output of the child, for assertion messages. */
  output(): string {
    return this.tail.join('\n');
  }

  /** Spawns `posta serve` and resolves once every worker listens. */
  async start(): Promise<Addresses> {
    if (this.child) throw new Error('already running');
    this.listening = [];
    this.workerPids.clear();
    this.addrs = null;
    const args = [
      ...this.nodeArgs,
      ...(this.runtime === 'tsx'
        ? ['--import', 'tsx', path.join(REPO_ROOT, 'src/cli/main.ts')]
        : [path.join(REPO_ROOT, 'dist/cli/main.js')]),
    ];
    args.push('serve', '--config', this.configPath, '--workers', String(this.workers));
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      // Own process group: kill9() signals -pid and reaches every worker.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POSTA_CONFIG: '', ...this.env },
    });
    this.child = child;
    this.starts++;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const exited = this.exited;
    void exited.then(() => {
      if (this.child === child) this.child = null;
      this.wake();
    });
    this.readLines(child.stdout!, (line) => this.onStdout(line));
    this.readLines(child.stderr!, (line) => this.remember(`[stderr] ${line}`));

    const ready = () => {
      // One worker: the single process logs one line (role "primary"). Several: each worker
      // logs its own line, and the primary logs one after the first worker is up.
      if (this.workers === 1) return this.listening.length >= 1;
      return this.listening.some((l) => l.role === 'primary') && this.workerPids.size >= this.workers;
    };
    await this.waitUntil(ready, `posta serve to listen (${this.workers} worker(s))`, () => this.child !== child);
    if (this.child !== child) throw new Error(`posta serve exited during start-up:\n${this.output()}`);
    this.addrs = this.listening[0].addresses ?? {};
    return this.addrs;
  }

  /** SIGKILL to the whole process group (primary and workers); resolves once all are gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const pids = [child.pid, ...this.workerPids];
    signalGroup(child.pid, 'SIGKILL');
    await this.exited;
    await waitForPidsGone(pids, 10_000);
    this.child = null;
    this.addrs = null;
  }

  /**
   * SIGKILL to one cluster worker only; the primary starts a replacement. Resolves once the
   * replacement listens (needs workers > 1).
   */
  async kill9Worker(index = 0): Promise<number> {
    if (this.workers < 2) throw new Error('kill9Worker needs workers > 1');
    const victim = [...this.workerPids][index % this.workerPids.size];
    const before = this.listening.length;
    process.kill(victim, 'SIGKILL');
    await waitForPidsGone([victim], 10_000);
    this.workerPids.delete(victim);
    await this.waitUntil(
      () => this.listening.length > before && this.workerPids.size >= this.workers,
      'a replacement worker to listen',
      () => this.child === null,
    );
    return victim;
  }

  /** SIGTERM to the primary (it forwards to its workers); waits for a clean exit. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (!child?.pid) return { code: null, signal: null };
    const pids = [child.pid, ...this.workerPids];
    child.kill('SIGTERM');
    const result = await Promise.race([
      this.exited!,
      new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref()),
    ]);
    if (result === null) {
      signalGroup(child.pid, 'SIGKILL');
      await this.exited;
      throw new Error(`posta serve did not exit within ${timeoutMs} ms of SIGTERM:\n${this.output()}`);
    }
    await waitForPidsGone(pids, 10_000);
    this.child = null;
    this.addrs = null;
    return result;
  }

  /** Kills whatever still runs (the whole group) and removes the temporary directory. */
  async cleanup(options: { keepDir?: boolean } = {}): Promise<void> {
    const child = this.child;
    if (child?.pid) {
      signalGroup(child.pid, 'SIGKILL');
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
    }
    // Workers are in the same group; make sure none survived an earlier partial kill.
    for (const pid of this.workerPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.child = null;
    if (!options.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private onStdout(line: string): void {
    this.remember(line);
    if (!line.startsWith('{')) return;
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    if (parsed.msg !== 'listening' || !parsed.addresses) return;
    this.listening.push(parsed);
    if (parsed.role === 'worker' && typeof parsed.pid === 'number') this.workerPids.add(parsed.pid);
    this.wake();
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 200) this.tail.splice(0, this.tail.length - 200);
  }

  private readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
  }

  private wake(): void {
    const waiters = this.lineWaiters;
    this.lineWaiters = [];
    for (const w of waiters) w();
  }

  private async waitUntil(done: () => boolean, what: string, abort: () => boolean): Promise<void> {
    const deadline = Date.now() + this.startTimeoutMs;
    while (!done()) {
      if (abort()) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${this.startTimeoutMs} ms waiting for ${what}:\n${this.output()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.lineWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/**
 * A ChildServer whose process group and directory are removed when the test ends
 * (pass the test context; `t.after` runs even when the test fails).
 */
export function createChildServer(
  t: { after(fn: () => Promise<void> | void): void } | null,
  options: ChildServerOptions = {},
): ChildServer {
  const server = new ChildServer(options);
  t?.after(() => server.cleanup({ keepDir: Boolean(process.env.POSTA_KEEP_TEST_DIRS) }));
  return server;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** A pid counts as gone when it no longer exists or is a zombie nobody has reaped yet. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitForPidsGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some((p) => !isGone(p))) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.filter((p) => !isGone(p)).join(', ')} did not exit`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------------------
// A minimal SMTP client: one message per connection, no pipelining, no TLS.

export interface RawSendOptions {
  host?: string;
  port: number;
  helo?: string;
  from: string;
  to: string[];
  /**
   * The message, already dot-stuffed (see dotStuff), ending with CRLF, without the final
   * ".\r\n" (the client adds it).
   */
  data: Buffer;
  /** Whole-transaction deadline (default 30 s); on expiry the socket is destroyed. */
  timeoutMs?: number;
  /** Destroy the connection after writing this many bytes of `data` (a client dying mid-DATA). */
  abortAfterBytes?: number;
  /** Send QUIT and wait for 221 (as smtp-source does; default true). */
  quit?: boolean;
}

/**
 * What became of one message, from the client's point of view:
 *  - accepted:  250 after the final dot;
 *  - rejected:  a 4xx/5xx reply to some command (nothing may be stored);
 *  - not-sent:  the connection failed before the final dot was written (nothing may be stored);
 *  - aborted:   we closed the connection mid-DATA on purpose (nothing may be stored);
 *  - unknown:   the final dot was written but no reply came (may or may not be stored).
 */
export type RawOutcome = 'accepted' | 'rejected' | 'not-sent' | 'aborted' | 'unknown';

export interface RawSendResult {
  outcome: RawOutcome;
  /** The last complete reply (code and text), if any. */
  code?: number;
  reply?: string;
  /** The command the last reply or error belongs to. */
  stage: string;
  error?: string;
  /** ms from writing the final dot to the 250 (accepted only). */
  dataLatencyMs?: number;
  /** ms from connect() to the 250 after DATA (accepted only). */
  totalLatencyMs?: number;
}

const CRLF_DOT_CRLF = Buffer.from('.\r\n');

/** RFC 5321 §4.5.2: a line starting with "." gets one more. `text` must use CRLF line ends. */
export function dotStuff(message: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  let lineStart = 0;
  while (lineStart < message.length) {
    if (message[lineStart] === 0x2e) {
      parts.push(message.subarray(start, lineStart), Buffer.from('.'));
      start = lineStart;
    }
    const nl = message.indexOf(0x0a, lineStart);
    if (nl < 0) break;
    lineStart = nl + 1;
  }
  parts.push(message.subarray(start));
  return parts.length === 1 ? message : Buffer.concat(parts);
}

export function sendRawSmtp(options: RawSendOptions): Promise<RawSendResult> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const wantQuit = options.quit ?? true;
  return new Promise<RawSendResult>((resolve) => {
    const t0 = process.hrtime.bigint();
    let dotAt = 0n;
    let stage = 'connect';
    let dotWritten = false;
    let settled = false;
    let result: RawSendResult | null = null;
    let buffered = '';
    let replyLines: string[] = [];
    let rcptIndex = 0;
    const socket = net.connect({ host, port: options.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);

    const finish = (r: RawSendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    // Called on socket errors, early close and timeouts.
    function fail(err: Error) {
      if (result) return finish(result); // the outcome was known already (e.g. QUIT failed)
      finish({ outcome: dotWritten ? 'unknown' : 'not-sent', stage, error: (err as NodeJS.ErrnoException).code ?? err.message });
    }
    const send = (line: string, nextStage: string) => {
      stage = nextStage;
      socket.write(line + '\r\n');
    };

    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        replyLines.push(line);
        if (line.length >= 4 && line[3] === '-') continue; // multi-line reply goes on
        const code = Number(line.slice(0, 3));
        const text = replyLines.join('\n');
        replyLines = [];
        onReply(code, text);
        if (settled) return;
      }
    });

    function onReply(code: number, text: string) {
      const expect = (ok: number) => {
        if (code === ok) return true;
        finish({ outcome: code >= 400 && code < 600 ? 'rejected' : 'unknown', code, reply: text, stage });
        return false;
      };
      switch (stage) {
        case 'connect':
          if (expect(220)) send(`EHLO ${options.helo ?? 'client.test'}`, 'ehlo');
          return;
        case 'ehlo':
          if (expect(250)) send(`MAIL FROM:<${options.from}>`, 'mail');
          return;
        case 'mail':
          if (expect(250)) send(`RCPT TO:<${options.to[rcptIndex++]}>`, 'rcpt');
          return;
        case 'rcpt':
          if (!expect(250)) return;
          if (rcptIndex < options.to.length) send(`RCPT TO:<${options.to[rcptIndex++]}>`, 'rcpt');
          else send('DATA', 'data');
          return;
        case 'data':
          if (expect(354)) writeData();
          return;
        case 'dot': {
          if (code === 250) {
            const now = process.hrtime.bigint();
            result = {
              outcome: 'accepted',
              code,
              reply: text,
              stage,
              dataLatencyMs: Number(now - dotAt) / 1e6,
              totalLatencyMs: Number(now - t0) / 1e6,
            };
            if (!wantQuit) return finish(result);
            send('QUIT', 'quit');
            return;
          }
          expect(250);
          return;
        }
        case 'quit':
          finish(result!);
          return;
        default:
          finish({ outcome: 'unknown', code, reply: text, stage, error: 'unexpected reply' });
      }
    }

    function writeData() {
      const data = options.data;
      if (options.abortAfterBytes !== undefined) {
        const cut = Math.max(0, Math.min(data.length, options.abortAfterBytes));
        socket.write(data.subarray(0, cut), () => {
          result = { outcome: 'aborted', stage: 'data', error: `closed after ${cut} of ${data.length} bytes` };
          finish(result);
        });
        return;
      }
      stage = 'dot';
      socket.write(data);
      dotWritten = true;
      dotAt = process.hrtime.bigint();
      socket.write(CRLF_DOT_CRLF);
    }
  });
}
