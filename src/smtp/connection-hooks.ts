/**
 * smtp-server does most of the wire protocol well; these hooks change the few things it
 * decides in ways a production MTA can't live with (DESIGN.md §9). They are applied to
 * each connection object, never to the library's prototype, so two servers in one process
 * stay independent.
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
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
  /**
   * The reply to AUTH where it is disabled (the MX; submission before STARTTLS), instead
   * of the library's "500 command not recognized". Returns `[code, "x.y.z text"]`.
   */
  authUnavailableReply?: (session: SMTPServerSession) => [number, string];
}

/**
 * MAIL/RCPT as the client sent them. smtp-server hands the application an address whose
 * A-label domain has been turned into a U-label, and parameter values that it has
 * xtext-decoded (loosely). Policy needs the original: an A-label is not a UTF-8 address
 * (RFC 6531 §3.2), and ENVID/ORCPT must be checked as xtext (RFC 3461 §4) and decoded once.
 */
export interface RawAddressCommand {
  /** The mailbox between the angle brackets, source route removed, or "" for <>. */
  address: string;
  /** Parameters by upper-case keyword, values undecoded; `true` for a bare keyword. */
  params: Map<string, string | true>;
}

export type HookedAddress = SMTPServerAddress & { raw?: RawAddressCommand };

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
        // 4.3.2 "system not accepting network messages" (RFC 3463), as Postfix answers.
        return this.send(421, `4.3.2 ${this.name} Too many connected clients, try again in a moment`, false);
      }
      this.connectionReady();
    });
  };

  // 2. Command line limits (the library allows 16 KiB for everything), and a proper reply
  //    to AUTH where it is disabled.
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = function (this: any, command: Buffer, callback: () => void) {
    // While a TLS upgrade runs, or before the greeting, the library decides (it must not
    // write to the socket mid-handshake).
    const libraryDecides = this._upgrading || !this._ready || this._server._closeTimeout;
    if (!libraryDecides) {
      const limit = lineLimit(command, Boolean(this._nextHandler));
      // +2: the parser has already removed the CRLF that the RFC limits count.
      if (command.length + 2 > limit) {
        this.send(500, '5.5.2 Line too long', false);
        // A SASL exchange in progress is abandoned, as Postfix does.
        this._nextHandler = false;
        return setImmediate(callback);
      }
      const authUnavailable = this._server.options.authUnavailableReply as HookedServerOptions['authUnavailableReply'];
      if (!this._nextHandler && authUnavailable && commandVerb(command) === 'AUTH' && this._isDisabled('AUTH')) {
        const [code, text] = authUnavailable(this.session);
        this.send(code, text, false);
        return setImmediate(callback);
      }
    }
    return onCommand(command, callback);
  };

  // 3. Keep what the client actually sent in MAIL and RCPT (see RawAddressCommand).
  const parseAddressCommand = connection._parseAddressCommand.bind(connection);
  connection._parseAddressCommand = function (name: string, command: Buffer) {
    const parsed = parseAddressCommand(name, command);
    if (parsed) parsed.raw = rawAddressCommand(command);
    return parsed;
  };

  // 4. Replies that already carry an enhanced status code (our SmtpReplyError texts) go
  //    out as they are, instead of getting the library's generic code put in front.
  const send = connection.send.bind(connection);
  connection.send = function (code: number, data?: unknown, context?: unknown) {
    if (typeof data === 'string' && ENHANCED_CODE_PREFIX.test(data)) return send(code, data, false);
    return send(code, data, context);
  };
}

function commandVerb(command: Buffer): string {
  return command.toString('latin1').split(' ', 1)[0].toUpperCase();
}

function lineLimit(command: Buffer, inSaslExchange: boolean): number {
  if (inSaslExchange) return MAX_AUTH_LINE;
  const verb = commandVerb(command.subarray(0, 5));
  if (verb === 'AUTH') return MAX_AUTH_LINE;
  if (verb === 'MAIL' || verb === 'RCPT') return MAX_PARAMETER_COMMAND_LINE;
  return MAX_COMMAND_LINE;
}

/** The same split as smtp-server's _parseAddressCommand, without its conversions. */
function rawAddressCommand(command: Buffer): RawAddressCommand {
  const [, ...rest] = command.toString().split(':');
  const [token = '', ...parts] = rest.join(':').trim().split(/\s+/);
  // RFC 5321 §4.1.2 / Appendix C: a source route is accepted and ignored.
  const address = token.slice(1, -1).replace(/^@[^\s,:@]+(?:,@[^\s,:@]+)*:/, '');
  const params = new Map<string, string | true>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = (eq === -1 ? part : part.slice(0, eq)).toUpperCase();
    if (key) params.set(key, eq === -1 || eq === part.length - 1 ? true : part.slice(eq + 1));
  }
  return { address, params };
}
