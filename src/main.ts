/**
 * Composition root (DESIGN.md §2): config → store → services. The only place that picks
 * backends. `startServer` runs every enabled listener in this process; `posta serve` calls
 * it once per worker.
 */
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:net';
import { QueueAdmin, collectBody } from './admin/queue-admin.js';
import { Authenticator } from './auth/authenticator.js';
import { FsBlobStore } from './blob/fs-blob-store.js';
import { parseHostPort, type Config } from './config/index.js';
import { RemoteDelivery } from './delivery/remote.js';
import { DnsResolver } from './dns/resolver.js';
import { MxRouter } from './dns/mx-route.js';
import { createLogger, type Logger } from './log/logger.js';
import { Notifier } from './queue/notifier.js';
import { QueueScheduler } from './queue/scheduler.js';
import { createImapServer } from './imap/server/imap-service.js';
import { createSmtpServer, type SmtpRole } from './smtp/smtp-service.js';
import { RecipientResolver } from './spool/resolve-recipient.js';
import { MessageBodies } from './spool/message-bodies.js';
import { Spool } from './spool/spool.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/types.js';
import { ensureTlsMaterial } from './tls/self-signed.js';

export type ServiceName = 'smtp' | 'submission' | 'submissions' | 'imap' | 'imaps';

export interface ListenAddress {
  host: string;
  port: number;
}

export interface RunningServer {
  config: Config;
  store: Store;
  blobs: FsBlobStore;
  spool: Spool;
  /** Reads stored message bodies (inline or blob file). */
  bodies: MessageBodies;
  log: Logger;
  /** The outbound queue's scheduler (null when started with deliver: false). */
  scheduler: QueueScheduler | null;
  queueAdmin: QueueAdmin;
  /** Where each enabled listener is bound (the real port when the config said 0). */
  addresses: Partial<Record<ServiceName, ListenAddress>>;
  close(): Promise<void>;
}

const SMTP_ROLES: Record<'smtp' | 'submission' | 'submissions', SmtpRole> = {
  smtp: 'mx',
  submission: 'submission',
  submissions: 'submissions',
};

/** Paths inside data_dir. */
export function dataPaths(config: Config) {
  return {
    database: path.join(config.data_dir, 'posta.db'),
    blobs: path.join(config.data_dir, 'blobs'),
  };
}

/** Opens the embedded store (used by the server and by CLI commands). */
export function openStore(config: Config): Store {
  return new SqliteStore({ file: dataPaths(config).database });
}

export interface StartOptions {
  config: Config;
  log?: Logger;
  /**
   * Delete leftovers of interrupted blob writes first. Only safe when no other process is
   * writing, so cluster workers leave it to the primary (default true).
   */
  sweepTmp?: boolean;
  /**
   * Give leases of recipients in flight back to the queue first: they belong to a process
   * that is gone. Only safe when no other process delivers, so cluster workers leave it to
   * the primary (default true).
   */
  recoverLeases?: boolean;
  /** Run the outbound scheduler (default true). */
  deliver?: boolean;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config } = options;
  const log = options.log ?? createLogger(config.log.level);
  const paths = dataPaths(config);
  const tls = await ensureTlsMaterial({
    dataDir: config.data_dir,
    certFile: config.tls.cert,
    keyFile: config.tls.key,
    hostname: config.hostname,
  });
  const store = openStore(config);
  const blobs = new FsBlobStore(paths.blobs);
  if (options.sweepTmp !== false) {
    const swept = await blobs.sweepTmp();
    if (swept > 0) log.info({ swept }, 'removed unfinished message files left by an earlier run');
  }
  const spool = new Spool(store, blobs);
  const resolver = new RecipientResolver(store, config.primary_domain);
  const authenticator = new Authenticator(store, {
    defaultDomain: config.primary_domain,
    maxFailures: config.limits.auth_failures,
    failureWindowMs: config.limits.auth_failure_window,
  });

  if (options.recoverLeases !== false) {
    const recovered = await store.recoverLeases(Date.now());
    if (recovered > 0) log.info({ recovered }, 'deliveries interrupted by an earlier stop are queued again');
  }
  const bodies = new MessageBodies(store, blobs);

  const closers: Array<() => Promise<void>> = [];
  const addresses: RunningServer['addresses'] = {};
  try {
    for (const name of Object.keys(SMTP_ROLES) as Array<keyof typeof SMTP_ROLES>) {
      const listen = config.listen[name];
      if (!listen) continue;
      const server = createSmtpServer(SMTP_ROLES[name], {
        config,
        store,
        spool,
        blobs,
        resolver,
        authenticator,
        log: log.child({ service: name }),
        tls,
      });
      const { host, port } = parseHostPort(listen);
      addresses[name] = await listenOn(server.server, host, port, name);
      closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    }
    for (const name of ['imap', 'imaps'] as const) {
      const listen = config.listen[name];
      if (!listen) continue;
      const service = createImapServer(name, { config, authenticator, tls, log: log.child({ service: name }) });
      const { host, port } = parseHostPort(listen);
      addresses[name] = await listenOn(service.server, host, port, name);
      closers.push(() => service.close());
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    await store.close();
    throw err;
  }

  const delivery = options.deliver === false ? null : createDelivery(config, log, addresses);
  const scheduler = delivery
    ? new QueueScheduler({
        store,
        router: delivery.router,
        mx: delivery.mx,
        relay: delivery.relay,
        bodies,
        notices: new Notifier({ store, spool, blobs, bodies, resolver, config, log: log.child({ service: 'notices' }) }),
        config,
        log: log.child({ service: 'queue' }),
        purge: async (before) => {
          for (const hash of await store.purgeFinished(before)) await collectBody(store, blobs, hash);
        },
      })
    : null;
  scheduler?.start();

  return {
    config,
    store,
    blobs,
    spool,
    bodies,
    log,
    scheduler,
    queueAdmin: new QueueAdmin(store, blobs),
    addresses,
    async close() {
      await Promise.all(closers.map((c) => c()));
      // Cut deliveries in flight short: their recipients stay leased and are queued again
      // at the next start (or when the lease runs out, for another process).
      const stopping = scheduler?.stop();
      await delivery?.close();
      await stopping;
      await spool.drain();
      await store.close();
    },
  };
}

/** DNS, routing and the SMTP clients for outbound delivery. */
function createDelivery(config: Config, log: Logger, addresses: RunningServer['addresses']) {
  const lookup = new DnsResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeout, tries: 2 });
  const router = new MxRouter({
    lookup,
    ourHostnames: [config.hostname],
    isOurAddress: (ip) => isOurSmtpAddress(ip, config, addresses),
  });
  const d = config.delivery;
  const common = {
    heloName: config.hostname,
    connectTimeoutMs: d.connect_timeout,
    commandTimeoutMs: d.command_timeout,
    dataTimeoutMs: d.data_timeout,
    log: log.child({ service: 'delivery' }),
  };
  const mx = new RemoteDelivery({ ...common, port: d.smtp_port });
  let relay: { host: string; deliverer: RemoteDelivery } | null = null;
  if (d.relay_host) {
    const { host, port } = parseHostPort(d.relay_host);
    relay = {
      host,
      deliverer: new RemoteDelivery({
        ...common,
        port,
        // Port 465 is submissions: TLS from the first byte (RFC 8314 §3.3).
        implicitTls: port === 465,
        relayAuth: d.relay_username ? { user: d.relay_username, pass: d.relay_password } : null,
      }),
    };
  }
  return {
    router,
    mx,
    relay,
    async close() {
      lookup.cancel();
      await Promise.all([mx.close(), relay?.deliverer.close()]);
    },
  };
}

/**
 * RFC 5321 §5.1: an MX host that is this server must not be delivered to (a loop). It is
 * us when our SMTP listener answers on that address at the port we deliver to.
 */
function isOurSmtpAddress(ip: string, config: Config, addresses: RunningServer['addresses']): boolean {
  const listener = addresses.smtp;
  if (!listener || listener.port !== config.delivery.smtp_port) return false;
  const normalized = ip.replace(/^::ffff:/, '');
  if (listener.host === '0.0.0.0' || listener.host === '::') {
    const local = Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
    return local.includes(normalized) || normalized.startsWith('127.');
  }
  return listener.host === normalized;
}

function listenOn(server: Server, host: string, port: number, name: string): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'EACCES'
          ? ' (ports below 1024 need CAP_NET_BIND_SERVICE; see the README)'
          : err.code === 'EADDRINUSE'
            ? ' (another process uses it; change listen.' + name + ')'
            : '';
      reject(new Error(`cannot listen for ${name} on ${host}:${port}: ${err.message}${hint}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : { host, port });
    });
  });
}
