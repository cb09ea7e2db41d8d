/**
 * One IMAP connection (RFC 9051): reads commands with the pure CommandReader, parses them,
 * and answers one command at a time. This first slice covers the not-authenticated and
 * authenticated states: greeting, CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE
 * PLAIN (with SASL-IR, RFC 4959), ID (RFC 2971). Mailbox commands follow (issue #4).
 *
 * Security (issue #4, point 5): no password over an unencrypted link unless
 * auth.allow_plaintext says so (LOGINDISABLED, RFC 9051 §6.2.3); failed logins go through
 * the shared Authenticator (rate-limited per IP and per account); bytes pipelined behind
 * STARTTLS are thrown away (CVE-2011-0411); malformed input gets BAD, never a crash.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Authenticator } from '../../auth/authenticator.js';
import type { Logger } from '../../log/logger.js';
import { CommandReader, type ReaderEvent } from '../proto/command-reader.js';
import {
  formatCapability,
  formatContinuation,
  formatId,
  formatStatusResponse,
  parseErrorResponse,
  type StatusResponse,
} from '../proto/formatter.js';
import { ImapParseError } from '../proto/parse-error.js';
import { parseCommand, parseSaslResponse, type Command } from '../proto/parser.js';

export interface ImapSessionOptions {
  authenticator: Authenticator;
  /** TLS context for STARTTLS. */
  secureContext: SecureContext;
  /** Whether LOGIN/AUTHENTICATE may run without TLS (config auth.allow_plaintext). */
  allowPlaintext: boolean;
  /** Autologout of an idle client (RFC 9051 §5.4: at least 30 minutes). */
  idleTimeoutMs: number;
  log: Logger;
}

type State = 'not-authenticated' | 'authenticated' | 'logout';

/** What this server implements; grown with each command family. */
const BASE_CAPABILITIES = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'SASL-IR', 'ID'];

export class ImapSession {
  private socket: Socket;
  private readonly reader = new CommandReader();
  private state: State = 'not-authenticated';
  private busy = false;
  private accountId: number | null = null;
  /** Set while AUTHENTICATE waits for the client's response line. */
  private saslTag: string | null = null;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    socket: Socket,
    private readonly options: ImapSessionOptions,
  ) {
    this.socket = socket;
    this.attach(socket);
    this.touch();
    this.send(formatStatusResponse({ status: 'OK', code: { name: 'CAPABILITY', capabilities: this.capabilities() }, text: 'Pošta ready' }));
  }

  private get secure(): boolean {
    return this.socket instanceof TLSSocket && this.socket.encrypted;
  }

  private get mayLogin(): boolean {
    return this.secure || this.options.allowPlaintext;
  }

  capabilities(): string[] {
    const caps = [...BASE_CAPABILITIES];
    if (this.state === 'not-authenticated') {
      if (!this.secure) caps.push('STARTTLS');
      if (this.mayLogin) caps.push('AUTH=PLAIN');
      else caps.push('LOGINDISABLED');
    }
    return caps;
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.touch();
      this.reader.push(chunk);
      void this.drain();
    });
    socket.on('error', (err) => this.options.log.debug({ err }, 'imap connection error'));
    socket.on('close', () => this.stop());
  }

  /** Autologout timer, restarted by any input. */
  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.send(formatStatusResponse({ status: 'BYE', text: 'Autologout; idle for too long' }));
      this.close();
    }, this.options.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private stop(): void {
    this.state = 'logout';
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private send(data: Buffer | Buffer[]): void {
    if (this.state === 'logout' && this.socket.destroyed) return;
    if (Array.isArray(data)) for (const chunk of data) this.socket.write(chunk);
    else this.socket.write(data);
  }

  private close(): void {
    this.stop();
    this.socket.end();
  }

  /** Handles buffered input one event at a time; a command finishes before the next starts. */
  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let event = this.reader.read(); event && this.state !== 'logout'; event = this.reader.read()) {
        await this.handle(event);
      }
    } catch (err) {
      this.options.log.error({ err }, 'imap session failed');
      this.send(formatStatusResponse({ status: 'BYE', code: { name: 'SERVERBUG' }, text: 'Internal error' }));
      this.close();
    } finally {
      this.busy = false;
    }
  }

  private async handle(event: ReaderEvent): Promise<void> {
    switch (event.type) {
      case 'continue':
        // Before login, no literals at all: nothing legitimate needs one, and a big one
        // would be a cheap way to make us buffer data for a stranger.
        if (this.state === 'not-authenticated' && event.name !== 'LOGIN') {
          this.reader.refuseLiteral();
          this.reply(event.tag, 'BAD', 'Literals are not allowed before login');
          return;
        }
        this.send(formatContinuation());
        return;
      case 'reject':
        this.send(
          formatStatusResponse({
            tag: event.tag ?? '*',
            status: event.status,
            code: event.code ? { name: event.code } : null,
            text: event.text,
          }),
        );
        if (event.close) this.close();
        return;
      case 'line-too-long':
        this.send(formatStatusResponse({ status: 'BAD', text: 'Line too long' }));
        return;
      case 'line':
        if (this.saslTag !== null) await this.finishPlain(this.saslTag, parseSaslResponse(event.line));
        return;
      case 'command': {
        let command: Command;
        try {
          command = parseCommand(event.bytes);
        } catch (err) {
          if (!(err instanceof ImapParseError)) throw err;
          this.send(formatStatusResponse(parseErrorResponse(err)));
          return;
        }
        await this.execute(command);
      }
    }
  }

  private reply(tag: string | null, status: StatusResponse['status'], text: string, code: StatusResponse['code'] = null): void {
    this.send(formatStatusResponse({ tag: tag ?? '*', status, code, text }));
  }

  private async execute(command: Command): Promise<void> {
    switch (command.name) {
      case 'CAPABILITY':
        this.send(formatCapability(this.capabilities()));
        this.reply(command.tag, 'OK', 'CAPABILITY completed');
        return;
      case 'NOOP':
        this.reply(command.tag, 'OK', 'NOOP completed');
        return;
      case 'LOGOUT':
        this.send(formatStatusResponse({ status: 'BYE', text: 'Logging out' }));
        this.reply(command.tag, 'OK', 'LOGOUT completed');
        this.close();
        return;
      case 'ID':
        // RFC 2971: our name only (ASCII, so rev1 clients get a plain string), nothing
        // that helps an attacker pick an exploit.
        this.send(formatId([['name', 'Posta']]));
        this.reply(command.tag, 'OK', 'ID completed');
        return;
      case 'STARTTLS':
        return this.startTls(command.tag);
      case 'LOGIN':
        if (this.state !== 'not-authenticated') return this.reply(command.tag, 'BAD', 'Already authenticated');
        if (!this.mayLogin) return this.reply(command.tag, 'NO', 'Use STARTTLS first', { name: 'PRIVACYREQUIRED' });
        return this.login(command.tag, command.username, command.password);
      case 'AUTHENTICATE':
        if (this.state !== 'not-authenticated') return this.reply(command.tag, 'BAD', 'Already authenticated');
        if (!this.mayLogin) return this.reply(command.tag, 'NO', 'Use STARTTLS first', { name: 'PRIVACYREQUIRED' });
        if (command.mechanism.toUpperCase() !== 'PLAIN') return this.reply(command.tag, 'NO', 'Unsupported mechanism', { name: 'CANNOT' });
        if (command.initialResponse) return this.finishPlain(command.tag, command.initialResponse);
        // RFC 9051 §6.2.2: an empty challenge, then one line with the response.
        this.saslTag = command.tag;
        this.reader.setMode('line');
        this.send(formatContinuation(''));
        return;
      default:
        if (this.state === 'not-authenticated') return this.reply(command.tag, 'BAD', 'Log in first');
        return this.reply(command.tag, 'BAD', `${command.name} is not supported yet`);
    }
  }

  private startTls(tag: string): void {
    if (this.secure) return this.reply(tag, 'BAD', 'TLS is already active');
    if (this.state !== 'not-authenticated') return this.reply(tag, 'BAD', 'STARTTLS is only allowed before login');
    // CVE-2011-0411: whatever the client pipelined behind STARTTLS must not run inside TLS.
    this.reader.takeBuffered();
    this.reply(tag, 'OK', 'Begin TLS negotiation now');
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    const secure = new TLSSocket(plain, { isServer: true, secureContext: this.options.secureContext });
    this.socket = secure;
    secure.once('secure', () => this.touch());
    this.attach(secure);
  }

  private async finishPlain(tag: string, response: Buffer | null): Promise<void> {
    this.saslTag = null;
    this.reader.setMode('command');
    if (response === null) return this.reply(tag, 'BAD', 'AUTHENTICATE cancelled');
    // RFC 4616: authzid NUL authcid NUL passwd; we only let users act as themselves.
    const parts = response.toString('utf8').split('\0');
    if (parts.length !== 3 || (parts[0] !== '' && parts[0] !== parts[1])) {
      return this.reply(tag, 'NO', 'Invalid credentials', { name: 'AUTHENTICATIONFAILED' });
    }
    return this.login(tag, parts[1], parts[2]);
  }

  private async login(tag: string, username: string, password: string): Promise<void> {
    const ip = this.socket.remoteAddress ?? '';
    const result = await this.options.authenticator.authenticate(username, password, ip);
    if (!result.ok) {
      this.options.log.info({ ip, user: username, reason: result.reason }, 'imap login failed');
      if (result.reason === 'rate-limited') {
        return this.reply(tag, 'NO', 'Too many failed logins; try again later', { name: 'UNAVAILABLE' });
      }
      return this.reply(tag, 'NO', 'Invalid credentials', { name: 'AUTHENTICATIONFAILED' });
    }
    this.state = 'authenticated';
    this.accountId = result.account.id;
    this.reply(tag, 'OK', 'Logged in', { name: 'CAPABILITY', capabilities: this.capabilities() });
  }

  /** The account logged in on this session, or null. */
  get account(): number | null {
    return this.accountId;
  }
}
