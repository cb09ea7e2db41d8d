/**
 * Composition root (DESIGN.md §2): config → store → services. The only place that picks
 * backends. `startServer` runs every enabled listener in this process; `posta serve` calls
 * it once per worker.
 */
import path from 'node:path';
import type { Server } from 'node:net';
import { Authenticator } from './auth/authenticator.js';
import { FsBlobStore } from './blob/fs-blob-store.js';
import { parseHostPort, type Config } from './config/index.js';
import { createLogger, type Logger } from './log/logger.js';
import { createSmtpServer, type SmtpRole } from './smtp/smtp-service.js';
import { RecipientResolver } from './spool/resolve-recipient.js';
import { MessageBodies } from './spool/message-bodies.js';
import { Spool } from './spool/spool.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/types.js';
import { ensureTlsMaterial } from './tls/self-signed.js';

export type ServiceName = 'smtp' | 'submission' | 'submissions';

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
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    await store.close();
    throw err;
  }

  return {
    config,
    store,
    blobs,
    spool,
    bodies: new MessageBodies(store, blobs),
    log,
    addresses,
    async close() {
      await Promise.all(closers.map((c) => c()));
      await spool.drain();
      await store.close();
    },
  };
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
