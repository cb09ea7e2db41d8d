/**
 * One outbound SMTP connection (RFC 5321 client side) on node:net / node:tls.
 *
 * Written here instead of using nodemailer's smtp-connection because remote delivery needs
 * per-recipient DSN parameters (NOTIFY/ORCPT differ per RCPT, RFC 3461 §4), a replay of the
 * dialogue, a timeout per stage (RFC 5321 §4.5.3.2), a plaintext retry after a failed
 * STARTTLS handshake, and connections that outlive one message.
 *
 * Methods either resolve with the server's reply (any code: deciding what it means is the
 * caller's job) or reject with SmtpClientError when the connection itself failed.
 * transaction() never rejects: it returns what it got and the error that stopped it.
 */
import net from 'node:net';
import tls from 'node:tls';
import { dotStuffedPieces } from './dot-stuffing.js';
import { NO_EXTENSIONS, parseEhloReply, type PeerExtensions } from './smtp-extensions.js';
import { DEFAULT_REPLY_LIMITS, ReplyParser, oneLine, replyWireLines, type ReplyLimits, type SmtpReply } from './smtp-reply.js';

/** Where in the dialogue something happened, for timeouts and messages. */
export type SmtpStage =
  | 'connect'
  | 'greeting'
  | 'EHLO'
  | 'HELO'
  | 'STARTTLS'
  | 'TLS handshake'
  | 'AUTH'
  | 'MAIL FROM'
  | 'RCPT TO'
  | 'DATA'
  | 'message body'
  | 'end of data'
  | 'RSET';

const STAGE_TEXT: Record<SmtpStage, string> = {
  connect: 'connecting',
  greeting: 'receiving the initial server greeting',
  EHLO: 'waiting for reply to EHLO',
  HELO: 'waiting for reply to HELO',
  STARTTLS: 'waiting for reply to STARTTLS',
  'TLS handshake': 'performing the TLS handshake',
  AUTH: 'waiting for reply to AUTH',
  'MAIL FROM': 'waiting for reply to MAIL FROM',
  'RCPT TO': 'waiting for reply to RCPT TO',
  DATA: 'waiting for reply to DATA',
  'message body': 'sending message content',
  'end of data': 'waiting for reply to end of DATA',
  RSET: 'waiting for reply to RSET',
};

/**
 * connect: no TCP (or implicit TLS) connection; timeout: a stage took too long; closed:
 * the peer went away (or the socket failed); protocol: the peer sent something that is
 * not an SMTP reply; tls: the TLS handshake failed.
 */
export type SmtpErrorKind = 'connect' | 'timeout' | 'closed' | 'protocol' | 'tls';

export class SmtpClientError extends Error {
  constructor(
    readonly kind: SmtpErrorKind,
    readonly stage: SmtpStage,
    message: string,
  ) {
    super(message);
    this.name = 'SmtpClientError';
  }
}

export interface SmtpClientOptions {
  /** The server's host name: for TLS SNI and for messages. */
  host: string;
  ip: string;
  port: number;
  /** Our name in EHLO/HELO. */
  heloName: string;
  /** TLS from the first byte (a smarthost on port 465, RFC 8314 §3.3). */
  implicitTls?: boolean;
  connectTimeoutMs: number;
  /** Replies to the greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA and RSET (RFC 5321 §4.5.3.2.1-4). */
  commandTimeoutMs: number;
  /** Sending the body (per write that waits) and the reply after it (RFC 5321 §4.5.3.2.5-6). */
  dataTimeoutMs: number;
  limits?: ReplyLimits;
}

/** One mail transaction's commands (without CRLF) and the body, not yet dot-stuffed. */
export interface TransactionRequest {
  mail: string;
  rcpts: string[];
  body: Buffer;
}

/** What the server answered, as far as the transaction got. */
export interface TransactionResult {
  mail: SmtpReply | null;
  /** One per RCPT in request order; null where no reply was read. */
  rcpts: Array<SmtpReply | null>;
  /** The reply to DATA (354 to go on); null if DATA was not sent or not answered. */
  data: SmtpReply | null;
  /** The reply after the final "."; null if the body was not sent or not answered. */
  final: SmtpReply | null;
  /** Why the transaction stopped early, if the connection failed; replies before it are above. */
  error: SmtpClientError | null;
}

interface Waiter {
  stage: SmtpStage;
  timer: NodeJS.Timeout;
  /** Waiting for 'drain' rather than for a reply. */
  drain: boolean;
  resolve: (reply: SmtpReply | null) => void;
  reject: (err: SmtpClientError) => void;
}

/** Bodies up to this size go out in one write. */
const SINGLE_WRITE_BODY = 256 * 1024;
/** How long QUIT waits for the peer to close before the socket is destroyed. */
const QUIT_WAIT_MS = 1000;
/**
 * Replies received but not yet read, at most: a pipelined group's replies may all arrive at
 * once, but a peer talking to itself must not fill our memory.
 */
const MAX_QUEUED_REPLIES = 1000;
const MAX_QUEUED_CHARS = 1024 * 1024;
/** Transcript bounds: a hostile peer can't make us keep megabytes. */
const MAX_TRANSCRIPT_LINES = 300;
const MAX_TRANSCRIPT_LINE = 512;

export class SmtpClientConnection {
  /** What the server offered in its last EHLO reply (none after HELO). */
  extensions: PeerExtensions = NO_EXTENSIONS;
  /** TLS is in use (STARTTLS done, or implicit TLS). */
  secure: boolean;
  /** Transactions that got a reply after their body. */
  transactions = 0;
  /** Where the dialogue is recorded ("C: ..." / "S: ..." / "* ..."); null: not recorded. */
  transcript: string[] | null = null;
  /** The host name used in messages; a reused connection may serve another name at the same address. */
  hostName: string;
  /** Called once when the connection is gone (closed by either side, or failed). */
  onClose: (() => void) | null = null;
  readonly ip: string;
  readonly port: number;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;

  private socket: net.Socket;
  private readonly options: SmtpClientOptions;
  private readonly parser: ReplyParser;
  private readonly replies: SmtpReply[] = [];
  private queuedChars = 0;
  private waiter: Waiter | null = null;
  /** Set once the connection can't be used any more; later reads fail with it. */
  private failure: { kind: 'closed' | 'protocol'; detail: string } | null = null;
  /** The peer said 421 (it is closing the channel, RFC 5321 §3.8). */
  private closing = false;
  private gone = false;
  private lastSocketError: Error | null = null;
  private markClosed!: () => void;

  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onDrain = () => {
    if (this.waiter?.drain) this.settle(null);
  };
  private readonly onError = (err: Error) => {
    this.lastSocketError = err;
  };
  private readonly onSocketClose = () => this.fail('closed', this.lastSocketError ? describeSocketError(this.lastSocketError) : '');
  private readonly onTimeout = () => {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    // The state of the dialogue is unknown now: the connection is not used again.
    this.failure ??= { kind: 'closed', detail: 'timed out' };
    this.note(`* timeout while ${STAGE_TEXT[w.stage]}`);
    w.reject(new SmtpClientError('timeout', w.stage, `conversation with ${this.name} timed out while ${STAGE_TEXT[w.stage]}`));
    this.socket.destroy();
  };

  private constructor(socket: net.Socket, options: SmtpClientOptions) {
    this.socket = socket;
    this.options = options;
    this.hostName = options.host;
    this.ip = options.ip;
    this.port = options.port;
    this.secure = options.implicitTls === true;
    this.parser = new ReplyParser((reply) => this.onReply(reply), options.limits ?? DEFAULT_REPLY_LIMITS);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.attach(socket);
  }

  /** Opens the TCP connection (and the TLS session for implicitTls). Rejects with kind 'connect' or 'tls'. */
  static connect(options: SmtpClientOptions, transcript: string[] | null = null): Promise<SmtpClientConnection> {
    const where = `${options.host}[${options.ip}]:${options.port}`;
    transcript?.push(`* connecting to ${where}${options.implicitTls ? ' (TLS)' : ''}`);
    return new Promise((resolve, reject) => {
      const socket = options.implicitTls
        ? tls.connect({ host: options.ip, port: options.port, servername: sniName(options.host), rejectUnauthorized: false })
        : net.connect({ host: options.ip, port: options.port });
      let tcpUp = false;
      const finish = (err: SmtpClientError | null) => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.off('connect', onTcp);
        socket.off(options.implicitTls ? 'secureConnect' : 'connect', onReady);
        if (err) {
          socket.on('error', () => undefined); // a late error of a socket we gave up on
          socket.destroy();
          transcript?.push(`* ${err.message}`);
          reject(err);
        } else {
          resolve(new SmtpClientConnection(socket, options));
        }
      };
      const failed = (text: string) =>
        tcpUp && options.implicitTls
          ? new SmtpClientError('tls', 'TLS handshake', `TLS handshake with ${where} failed: ${text}`)
          : new SmtpClientError('connect', 'connect', `connect to ${where}: ${text}`);
      const onError = (err: Error) => finish(failed(describeSocketError(err)));
      const onClose = () => finish(failed('Connection closed'));
      const onTcp = () => {
        tcpUp = true;
      };
      const onReady = () => finish(null);
      const timer = setTimeout(() => finish(failed(tcpUp ? 'handshake timed out' : 'Connection timed out')), options.connectTimeoutMs);
      socket.setNoDelay(true); // one write per pipelined group: Nagle would only add latency
      socket.on('error', onError);
      socket.on('close', onClose);
      socket.on('connect', onTcp);
      socket.on(options.implicitTls ? 'secureConnect' : 'connect', onReady);
    });
  }

  /** "mx.example[192.0.2.1]", as in Postfix's messages. */
  get name(): string {
    return `${this.hostName}[${this.ip}]`;
  }

  /** True if the connection can start a new transaction (for the connection cache). */
  get usable(): boolean {
    return !this.failure && !this.closing && !this.gone && this.replies.length === 0 && !this.parser.inReply && this.waiter === null;
  }

  /** The 220 greeting (or whatever the server says first). */
  greeting(): Promise<SmtpReply> {
    return this.readReply('greeting', this.options.commandTimeoutMs);
  }

  /**
   * EHLO; when the server refuses it with 5xx, HELO (RFC 5321 §3.2). Returns the reply that
   * decided: 250 on success, with `extensions` set from it.
   */
  async hello(): Promise<SmtpReply> {
    const ehlo = await this.command(`EHLO ${this.options.heloName}`, 'EHLO');
    if (ehlo.code === 250) {
      this.extensions = parseEhloReply(ehlo);
      return ehlo;
    }
    if (ehlo.code < 500 || ehlo.code > 599) return ehlo;
    this.extensions = NO_EXTENSIONS;
    return this.command(`HELO ${this.options.heloName}`, 'HELO');
  }

  /**
   * STARTTLS (RFC 3207). On 220 the TLS handshake follows; the certificate is not verified
   * (opportunistic TLS, RFC 7435). Resolves with the STARTTLS reply; rejects with kind
   * 'tls' when the handshake fails (the connection is then gone). EHLO must be sent again.
   */
  async startTls(): Promise<SmtpReply> {
    const reply = await this.command('STARTTLS', 'STARTTLS');
    if (reply.code === 220) await this.upgrade();
    return reply;
  }

  /**
   * AUTH PLAIN (RFC 4616), or LOGIN when only that is offered. Resolves with the reply that
   * decided (235 on success), or null when the server offers neither mechanism. The
   * credentials never reach the transcript.
   */
  async authenticate(user: string, pass: string): Promise<SmtpReply | null> {
    const mechanisms = this.extensions.auth ?? [];
    if (mechanisms.includes('PLAIN')) {
      // RFC 4954 §4: the initial response goes with the command.
      const token = Buffer.from(`\0${user}\0${pass}`, 'utf8').toString('base64');
      return this.command(`AUTH PLAIN ${token}`, 'AUTH', 'AUTH PLAIN <credentials>');
    }
    if (mechanisms.includes('LOGIN')) {
      let reply = await this.command('AUTH LOGIN', 'AUTH');
      if (reply.code !== 334) return reply;
      reply = await this.command(Buffer.from(user, 'utf8').toString('base64'), 'AUTH', '<username>');
      if (reply.code !== 334) return reply;
      return this.command(Buffer.from(pass, 'utf8').toString('base64'), 'AUTH', '<password>');
    }
    return null;
  }

  /**
   * One mail transaction: MAIL, RCPT for each recipient, DATA and the body. With PIPELINING
   * (RFC 2920) MAIL, the RCPTs and DATA go in one write and the replies are read in order;
   * otherwise lock-step. Never rejects.
   */
  async transaction(req: TransactionRequest): Promise<TransactionResult> {
    const res: TransactionResult = { mail: null, rcpts: new Array<SmtpReply | null>(req.rcpts.length).fill(null), data: null, final: null, error: null };
    const commandMs = this.options.commandTimeoutMs;
    let accepted = 0;
    try {
      if (this.extensions.pipelining) {
        // RFC 2920 §3.1: DATA may end a group; the replies come in the order of the commands.
        let group = req.mail + '\r\n';
        this.note('C: ' + req.mail);
        for (const rcpt of req.rcpts) {
          group += rcpt + '\r\n';
          this.note('C: ' + rcpt);
        }
        group += 'DATA\r\n';
        this.note('C: DATA');
        this.write(group);
        res.mail = await this.readReply('MAIL FROM', commandMs);
        if (this.closing) return res;
        for (let i = 0; i < req.rcpts.length; i++) {
          const reply = await this.readReply('RCPT TO', commandMs);
          res.rcpts[i] = reply;
          if (this.closing) return res;
          if (reply.code >= 200 && reply.code < 300) accepted++;
        }
        res.data = await this.readReply('DATA', commandMs);
      } else {
        res.mail = await this.command(req.mail, 'MAIL FROM');
        if (res.mail.code < 200 || res.mail.code > 299) return res;
        for (let i = 0; i < req.rcpts.length; i++) {
          const reply = await this.command(req.rcpts[i], 'RCPT TO');
          res.rcpts[i] = reply;
          if (this.closing) return res;
          if (reply.code >= 200 && reply.code < 300) accepted++;
        }
        if (accepted === 0) return res;
        res.data = await this.command('DATA', 'DATA');
      }
      if (res.data.code !== 354) return res;
      if (accepted === 0 || res.mail.code < 200 || res.mail.code > 299) {
        // A server that says 354 although nothing was accepted gets an empty message, so
        // the dialogue stays in step (RFC 2920 §3.1); its reply is of no interest.
        this.note('C: .');
        this.write('.\r\n');
        await this.readReply('end of data', this.options.dataTimeoutMs);
        return res;
      }
      await this.sendBody(req.body);
      res.final = await this.readReply('end of data', this.options.dataTimeoutMs);
      this.transactions++;
    } catch (err) {
      res.error = err instanceof SmtpClientError ? err : new SmtpClientError('closed', 'message body', String(err));
    }
    return res;
  }

  /** RSET; true if the server answered 250. Never rejects. */
  async reset(): Promise<boolean> {
    try {
      const reply = await this.command('RSET', 'RSET');
      return reply.code === 250;
    } catch {
      return false;
    }
  }

  /** QUIT and close; resolves when the socket is closed. Never rejects. */
  quit(): Promise<void> {
    if (!this.gone) {
      if (!this.failure && !this.closing && this.waiter === null) {
        this.note('C: QUIT');
        this.socket.write('QUIT\r\n');
      }
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), QUIT_WAIT_MS);
      timer.unref();
      void this.closed.then(() => clearTimeout(timer));
    }
    return this.closed;
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.socket.destroy();
  }

  // -------------------------------------------------------------------------

  private async command(line: string, stage: SmtpStage, logged = line): Promise<SmtpReply> {
    this.note('C: ' + logged);
    this.write(line + '\r\n');
    return this.readReply(stage, this.options.commandTimeoutMs);
  }

  private write(data: string | Buffer): boolean {
    if (this.failure || this.gone) return false;
    return this.socket.write(data);
  }

  /** The next reply, or SmtpClientError (timeout, closed, protocol). */
  private readReply(stage: SmtpStage, timeoutMs: number): Promise<SmtpReply> {
    const queued = this.replies.shift();
    if (queued) {
      this.queuedChars -= replySize(queued);
      return Promise.resolve(queued);
    }
    if (this.failure) return Promise.reject(this.failureError(stage));
    return new Promise<SmtpReply>((resolve, reject) => {
      this.waiter = { stage, drain: false, timer: setTimeout(this.onTimeout, timeoutMs), resolve: resolve as Waiter['resolve'], reject };
    });
  }

  private waitDrain(stage: SmtpStage, timeoutMs: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failureError(stage));
    return new Promise<void>((resolve, reject) => {
      this.waiter = { stage, drain: true, timer: setTimeout(this.onTimeout, timeoutMs), resolve: () => resolve(), reject };
    });
  }

  /** RFC 5321 §4.5.2 dot-stuffing, written with backpressure. */
  private async sendBody(body: Buffer): Promise<void> {
    this.note(`C: <message body, ${body.length} octets>`);
    this.note('C: .');
    const pieces = dotStuffedPieces(body);
    if (body.length <= SINGLE_WRITE_BODY) {
      this.write(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
      return;
    }
    const socket = this.socket;
    socket.cork();
    for (const piece of pieces) {
      if (!this.write(piece)) {
        socket.uncork();
        await this.waitDrain('message body', this.options.dataTimeoutMs);
        socket.cork();
      }
    }
    socket.uncork();
  }

  private settle(reply: SmtpReply | null): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    clearTimeout(w.timer);
    w.resolve(reply);
  }

  private receive(chunk: Buffer): void {
    if (this.failure) return;
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail('protocol', (err as Error).message);
    }
  }

  private onReply(reply: SmtpReply): void {
    if (this.transcript) for (const line of replyWireLines(reply)) this.note('S: ' + line);
    // RFC 5321 §3.8: 421 means the server is closing the channel; nothing more will come.
    if (reply.code === 421) this.closing = true;
    if (this.waiter && !this.waiter.drain) {
      this.settle(reply);
    } else if (this.replies.length < MAX_QUEUED_REPLIES && this.queuedChars < MAX_QUEUED_CHARS) {
      this.replies.push(reply);
      this.queuedChars += replySize(reply);
    } else {
      this.fail('protocol', 'too many unsolicited replies');
    }
  }

  private fail(kind: 'closed' | 'protocol', detail: string): void {
    if (!this.failure) {
      this.failure = { kind, detail };
      if (kind === 'protocol') this.note(`* ${detail}`);
    }
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(this.failureError(w.stage));
    }
    if (kind === 'protocol') this.socket.destroy();
    if (kind === 'closed' && !this.gone) {
      this.gone = true;
      this.markClosed();
      this.onClose?.();
    }
  }

  private failureError(stage: SmtpStage): SmtpClientError {
    const f = this.failure ?? { kind: 'closed', detail: '' };
    if (f.kind === 'protocol') {
      return new SmtpClientError('protocol', stage, oneLine(`malformed reply from ${this.name} while ${STAGE_TEXT[stage]}: ${f.detail}`));
    }
    const why = f.detail && f.detail !== 'timed out' ? ` (${f.detail})` : '';
    return new SmtpClientError('closed', stage, oneLine(`lost connection with ${this.name} while ${STAGE_TEXT[stage]}${why}`));
  }

  /** RFC 3207 §4.2 / §5: the handshake; anything the server sent before it is thrown away. */
  private upgrade(): Promise<void> {
    this.parser.reset();
    this.replies.length = 0;
    this.queuedChars = 0;
    const plain = this.socket;
    this.detach(plain);
    plain.on('error', () => {
      /* reported through the TLS socket */
    });
    return new Promise<void>((resolve, reject) => {
      const secure = tls.connect({ socket: plain, servername: sniName(this.hostName), rejectUnauthorized: false });
      const finish = (err: Error | null) => {
        clearTimeout(timer);
        secure.off('secureConnect', onSecure);
        secure.off('error', finish);
        secure.off('close', onClose);
        if (err) {
          secure.on('error', () => undefined);
          secure.destroy();
          plain.destroy();
          const error = new SmtpClientError('tls', 'TLS handshake', oneLine(`TLS handshake with ${this.name} failed: ${describeSocketError(err)}`));
          this.note(`* ${error.message}`);
          this.failure ??= { kind: 'closed', detail: 'TLS handshake failed' };
          if (!this.gone) {
            this.gone = true;
            this.markClosed();
            this.onClose?.();
          }
          reject(error);
          return;
        }
        this.socket = secure;
        this.secure = true;
        this.attach(secure);
        const cipher = secure.getCipher();
        this.note(`* TLS established: ${secure.getProtocol() ?? 'TLS'} ${cipher?.name ?? ''}${secure.authorized ? '' : ' (certificate not verified)'}`);
        resolve();
      };
      const onSecure = () => finish(null);
      const onClose = () => finish(new Error('connection closed'));
      const timer = setTimeout(() => finish(new Error('handshake timed out')), this.options.commandTimeoutMs);
      secure.on('secureConnect', onSecure);
      secure.on('error', finish);
      secure.on('close', onClose);
    });
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onError);
    socket.on('close', this.onSocketClose);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('drain', this.onDrain);
    socket.off('error', this.onError);
    socket.off('close', this.onSocketClose);
  }

  private note(line: string): void {
    const t = this.transcript;
    if (!t || t.length > MAX_TRANSCRIPT_LINES) return;
    if (t.length === MAX_TRANSCRIPT_LINES) {
      t.push('* transcript truncated');
      return;
    }
    t.push(oneLine(line, MAX_TRANSCRIPT_LINE));
  }
}

function replySize(reply: SmtpReply): number {
  let n = 0;
  for (const line of reply.lines) n += line.length + 4;
  return n;
}

/** SNI takes a host name, never an IP address (RFC 6066 §3). */
function sniName(host: string): string | undefined {
  return net.isIP(host) === 0 && host !== '' ? host : undefined;
}

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  EPIPE: 'Broken pipe',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

/**
 * An errno as the words Postfix logs ("Connection refused"); an OpenSSL error by its reason
 * ("wrong version number"), not its long internal message; else the error's message.
 */
export function describeSocketError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const reason = (err as { reason?: unknown }).reason;
  return oneLine((code && SOCKET_ERRORS[code]) || (typeof reason === 'string' && reason) || err.message || String(code ?? 'error'));
}
