/**
 * `posta serve`: runs every service. With more than one worker (default: one per core,
 * DESIGN.md §3b) the primary process only supervises: it does the first-run setup, forks
 * the workers, restarts any that die, and forwards shutdown signals. Every worker serves
 * every protocol on the shared listening sockets.
 */
import cluster from 'node:cluster';
import os from 'node:os';
import type { Command } from 'commander';
import { ensureInitialSetup, type FirstRunResult } from '../admin/first-run.js';
import type { Config } from '../config/index.js';
import { UsageError } from '../errors/index.js';
import { createLogger } from '../log/logger.js';
import { FsBlobStore } from '../blob/fs-blob-store.js';
import { dataPaths, openStore, startServer, type RunningServer } from '../main.js';
import { leaseOwnerPrefix } from '../queue/scheduler.js';
import type { Store } from '../store/types.js';
import { ensureTlsMaterial } from '../tls/self-signed.js';
import { addConfigOption, loadCliConfig, type ConfigOption } from './context.js';

interface ServeOptions extends ConfigOption {
  workers?: string;
}

type Addresses = RunningServer['addresses'];

interface WorkerMessage {
  type: 'posta:listening';
  addresses: Addresses;
}

export function registerServeCommand(program: Command): void {
  addConfigOption(
    program
      .command('serve')
      .description('run the mail server (SMTP, submission) in the foreground')
      .option('-w, --workers <n>', 'worker processes (default: the config\'s "workers"; 0 = one per CPU core)'),
  ).action((opts: ServeOptions) => serve(opts));
}

async function serve(opts: ServeOptions): Promise<void> {
  const { config, source } = loadCliConfig(opts);
  const workers = resolveWorkerCount(opts.workers, config.workers);
  if (cluster.isWorker) return runWorker(config);

  const log = createLogger(config.log.level, { role: 'primary' });
  // One-time setup happens here, before any worker starts, so workers never race on it.
  const store = openStore(config);
  let firstRun: FirstRunResult | null;
  try {
    firstRun = await ensureInitialSetup(store, config.primary_domain);
  } finally {
    await store.close();
  }
  const tls = await ensureTlsMaterial({
    dataDir: config.data_dir,
    certFile: config.tls.cert,
    keyFile: config.tls.key,
    hostname: config.hostname,
  });

  const showBanner = (addresses: Addresses) =>
    process.stderr.write(banner({ config, source, firstRun, addresses, workers, selfSigned: tls.selfSigned, certPath: tls.certPath }));

  if (workers === 1) {
    const server = await startServer({ config, log });
    log.info({ addresses: server.addresses }, 'listening');
    showBanner(server.addresses);
    onShutdown(async () => {
      await server.close();
    });
    return;
  }
  const swept = await new FsBlobStore(dataPaths(config).blobs).sweepTmp();
  if (swept > 0) log.info({ swept }, 'removed unfinished message files left by an earlier run');
  // Before any worker delivers: what was in flight when the last run stopped is due again.
  const primaryStore = openStore(config);
  const recovered = await primaryStore.recoverLeases(Date.now());
  if (recovered > 0) log.info({ recovered }, 'deliveries interrupted by an earlier stop are queued again');
  superviseWorkers(workers, log, showBanner, primaryStore);
}

function resolveWorkerCount(flag: string | undefined, configured: number): number {
  let n = configured;
  if (flag !== undefined) {
    n = Number(flag);
    if (!Number.isInteger(n) || n < 0 || n > 64) {
      throw new UsageError(`--workers: "${flag}" is not a number from 0 to 64 (0 = one per CPU core)`);
    }
  }
  return n === 0 ? os.availableParallelism() : n;
}

async function runWorker(config: Config): Promise<void> {
  const log = createLogger(config.log.level, { role: 'worker', worker: cluster.worker?.id });
  // The primary swept blobs/tmp and recovered leases before forking; a worker must not
  // delete its siblings' files or take their deliveries.
  const server = await startServer({ config, log, sweepTmp: false, recoverLeases: false });
  log.info({ addresses: server.addresses }, 'listening');
  process.send?.({ type: 'posta:listening', addresses: server.addresses } satisfies WorkerMessage);
  onShutdown(() => server.close());
}

function superviseWorkers(count: number, log: ReturnType<typeof createLogger>, showBanner: (a: Addresses) => void, store: Store): void {
  let stopping = false;
  let bannerShown = false;
  // Workers accept on the shared sockets themselves. With the default round-robin policy
  // the primary accepts every connection and passes it over IPC: a new SMTP connection per
  // message then costs the primary CPU and each client a round trip.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const fork = () => {
    const worker = cluster.fork();
    worker.on('message', (msg: WorkerMessage) => {
      if (msg?.type === 'posta:listening' && !bannerShown) {
        bannerShown = true;
        log.info({ addresses: msg.addresses, workers: count }, 'listening');
        showBanner(msg.addresses);
      }
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    log.error({ worker: worker.id, code, signal }, 'worker died; starting a new one');
    // Its deliveries in flight are due again now rather than when their leases run out.
    const pid = worker.process.pid;
    if (pid) {
      store.releaseOwner(leaseOwnerPrefix(pid), Date.now()).then(
        (n) => n > 0 && log.info({ worker: worker.id, recovered: n }, "the dead worker's deliveries are queued again"),
        (err: unknown) => log.error({ err }, "could not queue the dead worker's deliveries again"),
      );
    }
    // A short pause, so a worker that dies at start-up doesn't spin the CPU.
    setTimeout(fork, 1000).unref();
  });
  for (let i = 0; i < count; i++) fork();
  onShutdown(async () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    // The exit handler above ends the process once the last worker is gone.
    await new Promise(() => {});
  });
}

/** SIGTERM/SIGINT close listeners, finish commits in flight, then exit. */
function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const handler = () => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

function banner(info: {
  config: Config;
  source: string | null;
  firstRun: FirstRunResult | null;
  addresses: Addresses;
  workers: number;
  selfSigned: boolean;
  certPath: string;
}): string {
  const { config, firstRun, addresses } = info;
  const lines: string[] = [];
  const where = (name: keyof Addresses) => {
    const a = addresses[name];
    return a ? `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : null;
  };
  lines.push(
    `Pošta is running (${info.workers} worker${info.workers === 1 ? '' : 's'}; config: ${info.source ?? 'built-in defaults'}; data: ${config.data_dir})`,
  );
  const services: Array<[keyof Addresses, string]> = [
    ['smtp', 'SMTP (incoming mail, MX)'],
    ['submission', 'Submission (STARTTLS)    '],
    ['submissions', 'Submissions (TLS)        '],
    ['imap', 'IMAP (STARTTLS; login only so far)'],
    ['imaps', 'IMAPS (TLS; login only so far)'],
  ];
  for (const [name, label] of services) {
    const at = where(name);
    if (at) lines.push(`  ${label.padEnd(26)} ${at}`);
  }
  if (firstRun) {
    const submission = where('submission') ?? where('submissions');
    lines.push(
      '',
      `First run: created the domain ${firstRun.domain} and the account ${firstRun.postmaster}.`,
      `  Password: ${firstRun.password}`,
      '  (shown only this once; change it with: posta user passwd ' + firstRun.postmaster + ')',
      '',
      'Mail client settings:',
      `  Username: ${firstRun.postmaster} (the full address), normal password`,
      submission ? `  Outgoing (SMTP): ${submission}, STARTTLS` : '',
      '  Add users with: posta user add someone@' + firstRun.domain,
    );
  }
  if (info.selfSigned) {
    lines.push('', `TLS: self-signed certificate ${info.certPath}; clients will warn. Set tls.cert and tls.key for a real one.`);
  }
  return lines.filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n') + '\n';
}
