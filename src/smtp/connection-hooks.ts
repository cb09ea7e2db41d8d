/**
 * smtp-server does most of the wire protocol well; these hooks change the few things it
 * decides in ways a production MTA can't live with (DESIGN.md §9). They are applied to
 * each connection object, never to the library's prototype, so two servers in one process
 * stay independent.
 */
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF. */
const MAX_COMMAND_LINE = 512;
/**
 * MAIL and RCPT may carry extension parameters; RFC 1869 §4.1.2 lets each extension add to
 * the limit, and RFC 3461 §5 adds up to 100 (ENVID) and 500 (ORCPT) octets.
 */
const MAX_PARAMETER_COMMAND_LINE = 1024;
/** RFC 4954 §4: AUTH lines (and SASL responses) may be up to 12288 octets. */
const MAX_AUTH_LINE = 12288;

const ENHANCED_CODE_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

export interface HookedServerOptions extends SMTPServerOptions {
  /** Called for each new connection object (to track it by session id). */
  onConnection?: (connection: HookedConnection) => void;
}

/** The subset of smtp-server's internal connection object that we use. */
export interface HookedConnection {
  id: string;
  session: { id: string };
  send(code: number, data?: string | string[], context?: unknown): void;
  close(): void;
  _socket: import('node:net').Socket;
}

export class HookedSmtpServer extends SMTPServer {
  constructor(private readonly hookOptions: HookedServerOptions) {
    super(hookOptions);
  }

  // Replaces SMTPServer#connect (same body) so every connection gets our hooks.
  override connect(socket: import('node:net').Socket, socketOptions: unknown): void {
    const connection = new (SMTPConnection as any)(this, socket, socketOptions);
    applyHooks(connection);
    const self = this as any;
    self.connections.add(connection);
    connection.on('error', (err: Error) => self._onError(err));
    connection.on('connect', (data: unknown) => self._onClientConnect(data));
    this.hookOptions.onConnection?.(connection);
    connection.init();
  }
}

function applyHooks(connection: any): void {
  // 1. No fixed 100 ms pause before the greeting: it caps each session at ~10 messages a
  //    second, and Postfix's smtpd has none. The maxClients check stays as in the library.
  connection.init = function (this: any) {
    this._setListeners(() => {
      if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      this.connectionReady();
    });
  };

  // 2. Command line limits (the library allows 16 KiB for everything).
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = function (this: any, command: Buffer, callback: () => void) {
    const limit = lineLimit(command, Boolean(this._nextHandler));
    // +2: the parser has already removed the CRLF that the RFC limits count.
    if (command.length + 2 > limit) {
      this.send(500, '5.5.2 Line too long', false);
      // A SASL exchange in progress is abandoned, as Postfix does.
      this._nextHandler = false;
      return setImmediate(callback);
    }
    return onCommand(command, callback);
  };

  // 3. Replies that already carry an enhanced status code (our SmtpReplyError texts) go
  //    out as they are, instead of getting the library's generic code put in front.
  const send = connection.send.bind(connection);
  connection.send = function (code: number, data?: unknown, context?: unknown) {
    if (typeof data === 'string' && ENHANCED_CODE_PREFIX.test(data)) return send(code, data, false);
    return send(code, data, context);
  };
}

function lineLimit(command: Buffer, inSaslExchange: boolean): number {
  if (inSaslExchange) return MAX_AUTH_LINE;
  const verb = command.subarray(0, 5).toString('latin1').toUpperCase();
  if (verb.startsWith('AUTH')) return MAX_AUTH_LINE;
  if (verb.startsWith('MAIL') || verb.startsWith('RCPT')) return MAX_PARAMETER_COMMAND_LINE;
  return MAX_COMMAND_LINE;
}
