/**
 * The IMAP listeners: port 143 (STARTTLS) and 993 (implicit TLS, RFC 8314), each
 * connection an ImapSession.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Authenticator } from '../../auth/authenticator.js';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../log/logger.js';
import { ImapSession } from './imap-session.js';

export type ImapRole = 'imap' | 'imaps';

export interface ImapServiceDeps {
  config: Config;
  authenticator: Authenticator;
  tls: { cert: Buffer; key: Buffer };
  log: Logger;
}

/** RFC 9051 §5.4: the autologout timer must be at least 30 minutes. */
const AUTOLOGOUT_MS = 30 * 60 * 1000;

export interface ImapService {
  server: net.Server;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

export function createImapServer(role: ImapRole, deps: ImapServiceDeps): ImapService {
  const secureContext = tls.createSecureContext({ cert: deps.tls.cert, key: deps.tls.key });
  const sockets = new Set<net.Socket>();
  const start = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    new ImapSession(socket, {
      authenticator: deps.authenticator,
      secureContext,
      allowPlaintext: deps.config.auth.allow_plaintext,
      idleTimeoutMs: AUTOLOGOUT_MS,
      log: deps.log,
    });
  };
  const server =
    role === 'imaps'
      ? tls.createServer({ cert: deps.tls.cert, key: deps.tls.key }, start)
      : net.createServer(start);
  // A failed TLS handshake on 993 is the client's problem, not ours.
  server.on('tlsClientError', (err: Error) => deps.log.debug({ err }, 'imaps handshake failed'));
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
