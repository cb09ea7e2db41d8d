/**
 * A fake remote MX for delivery tests: a small scripted SMTP server on raw node:net/tls,
 * listening on a loopback address (127.0.0.x) and recording what it receives.
 *
 * Raw sockets rather than smtp-server, because the faults tests need are exactly what
 * smtp-server doesn't let an application script: the greeting code, stalls at the
 * greeting, EHLO, DATA or the final dot, refusing EHLO, a broken TLS handshake after
 * "220 Ready to start TLS", garbage on the wire. The script can be changed while the
 * server runs; open connections follow the new script from their next command.
 *
 *   const mx = await startFakeMx({ host: '127.0.0.3', starttls: true });
 *   mx.script({ rcpt: { 'grey@x.test': '450 4.2.0 greylisted' } });
 *   await mx.waitForMessages(1);
 *   mx.messages[0].body;   // bytes as received, dot-stuffing undone
 *   await mx.close();      // also ends stalled connections
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { probePort } from './ports.js';

/** A reply: a code (a standard text is added) or the whole reply line(s), "\n" between lines. */
export type ScriptedReply = number | string;

export type FakeMxStage = 'greeting' | 'ehlo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'dot';

export interface FakeMxScript {
  /** Instead of "220 ... ESMTP". After 421 the connection is closed; after others, commands get 503. */
  greeting?: ScriptedReply;
  /** Reply to EHLO instead of the extension list (e.g. 502: the client should fall back to HELO). */
  ehlo?: ScriptedReply;
  helo?: ScriptedReply;
  /** Reply to STARTTLS instead of 220 (e.g. '454 4.7.0 TLS not available'). */
  starttls?: ScriptedReply;
  /** Say 220 to STARTTLS, then send garbage instead of a TLS handshake and close. */
  tlsHandshakeFailure?: boolean;
  /** Final reply to AUTH, whatever the credentials. */
  auth?: ScriptedReply;
  mail?: ScriptedReply;
  /** Replies by recipient address (compared case-insensitively). */
  rcpt?: Record<string, ScriptedReply>;
  /** Reply to every RCPT not in `rcpt`. */
  rcptAll?: ScriptedReply;
  /** Reply to DATA instead of 354. */
  data?: ScriptedReply;
  /** Reply after the final dot instead of 250. */
  afterData?: ScriptedReply;
  /** Record the message, then close the connection without a reply to the final dot. */
  dropAfterData?: boolean;
  /** Never answer at this stage (and ignore whatever follows). 'dot': after the whole body. */
  stall?: FakeMxStage;
  /** Take over each new connection completely (hostile-peer tests); nothing else is done with it. */
  raw?: (socket: net.Socket) => void;
}

export interface FakeMxOptions {
  /** Loopback address to listen on. Default 127.0.0.1. */
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** The name in the greeting and EHLO reply. */
  name?: string;
  pipelining?: boolean;
  dsn?: boolean;
  smtputf8?: boolean;
  eightBitMime?: boolean;
  enhancedStatusCodes?: boolean;
  /** Offer STARTTLS (default false). */
  starttls?: boolean;
  /** TLS from the first byte (a smarthost on port 465). */
  implicitTls?: boolean;
  /** null (default): no SIZE; 0: "SIZE" without a limit; n: "SIZE n", and bigger messages get 552. */
  size?: number | null;
  /** Offer AUTH PLAIN LOGIN (after TLS unless authWithoutTls) and accept these credentials. */
  auth?: { user: string; pass: string } | null;
  /** Mechanisms offered with `auth`. Default PLAIN and LOGIN. */
  authMechanisms?: Array<'PLAIN' | 'LOGIN'>;
  authWithoutTls?: boolean;
  script?: FakeMxScript;
}

export interface ReceivedMessage {
  /** Which connection (1, 2, ... in order of arrival) it came on. */
  connectionId: number;
  helo: string;
  tls: boolean;
  authUser: string | null;
  from: string;
  /** Accepted recipients, in order. */
  to: string[];
  /** MAIL parameters by upper-case keyword, values as sent (xtext not decoded); true for a bare keyword. */
  mailParams: Record<string, string | true>;
  /** RCPT parameters of each accepted recipient, like mailParams. */
  rcptParams: Array<Record<string, string | true>>;
  /** The message as received, dot-stuffing undone. */
  body: Buffer;
  /** The reply sent after the final dot; null when none was (dropped or stalled). */
  reply: string | null;
  /** The reply was 2xx: the message was taken. */
  accepted: boolean;
}

export interface FakeMx {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  /** Every complete message received, whatever the reply to it. */
  readonly messages: ReceivedMessage[];
  /** Every command line received, in order over all connections ("EHLO x", "MAIL FROM:<a> SIZE=3", ...). */
  readonly commands: string[];
  readonly connectionsOpened: number;
  readonly openConnections: number;
  /** Replaces the script (changes apply to open connections from their next command). */
  script(script: FakeMxScript): void;
  /** Resolves once `n` messages have been received in total. */
  waitForMessages(n: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Resolves once `n` connections have been opened in total. */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /** Destroys every open connection (as a server's idle timeout would) and keeps listening. */
  dropConnections(): void;
  /** Stops listening and destroys every connection, stalled ones too. */
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 15_000;
const MAX_COMMAND_LINE = 64 * 1024;
const TERMINATOR = Buffer.from('\r\n.\r\n');
const CRLF = Buffer.from('\r\n');
const CRLF_DOT = Buffer.from('\r\n.');

/** Starts a fake MX; see FakeMxOptions. */
export async function startFakeMx(options: FakeMxOptions = {}): Promise<FakeMx> {
  const mx = new FakeMxServer(options);
  await mx.listen();
  return mx;
}

/**
 * Fake MXes on several loopback addresses sharing one port, as remote delivery dials every
 * host on the same port (delivery.smtp_port). Options apply to all of them.
 */
export async function startFakeMxes(hosts: string[], options: Omit<FakeMxOptions, 'host' | 'port'> = {}): Promise<FakeMx[]> {
  for (let tries = 0; ; tries++) {
    const started: FakeMx[] = [];
    try {
      for (const host of hosts) {
        started.push(await startFakeMx({ ...options, host, port: started[0]?.port ?? 0 }));
      }
      return started;
    } catch (err) {
      await Promise.all(started.map((mx) => mx.close()));
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || tries >= 20) throw err;
    }
  }
}

/** A port on which nothing listens at `host` (for "connection refused"). */
export function closedPort(host = '127.0.0.1'): Promise<number> {
  return probePort(host);
}

class FakeMxServer extends EventEmitter implements FakeMx {
  readonly messages: ReceivedMessage[] = [];
  readonly commands: string[] = [];
  connectionsOpened = 0;
  readonly name: string;
  host: string;
  port = 0;
  current: FakeMxScript;
  readonly options: FakeMxOptions;
  secureContext: tls.SecureContext | null = null;
  private pems: { cert: string; key: string } | null = null;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private queueCounter = 0;

  constructor(options: FakeMxOptions) {
    super();
    this.options = options;
    this.host = options.host ?? '127.0.0.1';
    this.name = options.name ?? `mx-${this.host.replace(/[.:]/g, '-')}.fake.test`;
    this.current = options.script ?? {};
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  async listen(): Promise<void> {
    if (this.options.starttls || this.options.implicitTls) {
      const pems = await generate([{ name: 'commonName', value: this.name }], {
        keyType: 'ec',
        algorithm: 'sha256',
        extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: this.name }, { type: 7, ip: this.host }] }],
      });
      this.pems = { cert: pems.cert, key: pems.private };
      this.secureContext = tls.createSecureContext(this.pems);
    }
    const onSocket = (socket: net.Socket) => this.accept(socket);
    this.server = this.options.implicitTls
      ? tls.createServer({ ...this.pems }, onSocket)
      : net.createServer(onSocket);
    // Track the raw TCP sockets too, so close() also ends connections mid-handshake.
    this.server.on('connection', (socket: net.Socket) => this.track(socket));
    this.server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port ?? 0, this.host, () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  script(script: FakeMxScript): void {
    this.current = script;
  }

  nextQueueId(): string {
    return `FAKE${++this.queueCounter}`;
  }

  track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }

  record(message: ReceivedMessage): void {
    this.messages.push(message);
    this.emit('message');
  }

  waitForMessages(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<ReceivedMessage[]> {
    return this.waitUntil(() => this.messages.length >= n, 'message', `${n} message(s) at ${this.host}`, timeoutMs).then(() => this.messages);
  }

  waitForConnections(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waitUntil(() => this.connectionsOpened >= n, 'connection', `${n} connection(s) at ${this.host}`, timeoutMs);
  }

  private waitUntil(done: () => boolean, event: string, what: string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.off(event, check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off(event, check);
        reject(new Error(`fake MX: timed out waiting for ${what}`));
      }, timeoutMs);
      this.on(event, check);
    });
  }

  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private accept(socket: net.Socket): void {
    this.track(socket);
    this.connectionsOpened++;
    this.emit('connection');
    const raw = this.current.raw;
    if (raw) {
      raw(socket);
      return;
    }
    new FakeSession(this, socket, this.connectionsOpened, this.options.implicitTls === true).start();
  }
}

type Mode = 'command' | 'data' | 'stalled' | 'refused' | 'closed';

/** One connection's SMTP dialogue. */
class FakeSession {
  private mode: Mode = 'command';
  private buffer: Buffer = Buffer.alloc(0);
  private helo = '';
  private esmtp = false;
  private authUser: string | null = null;
  private from: string | null = null;
  private mailParams: Record<string, string | true> = {};
  private to: string[] = [];
  private rcptParams: Array<Record<string, string | true>> = [];
  private dataChunks: Buffer[] = [];
  /** Length of "\r\n" + data so far, and its last 4 octets (to find the end across chunks). */
  private dataSeen = 0;
  private dataTail: Buffer = CRLF;
  /** A SASL exchange in progress. */
  private sasl: { mechanism: 'PLAIN' | 'LOGIN'; step: number; user?: string } | null = null;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  constructor(
    private readonly mx: FakeMxServer,
    private socket: net.Socket,
    private readonly id: number,
    private secure: boolean,
  ) {}

  private get script(): FakeMxScript {
    return this.mx.current;
  }

  private get esc(): boolean {
    return this.mx.options.enhancedStatusCodes !== false;
  }

  start(): void {
    this.socket.on('data', this.onData);
    this.socket.on('close', () => (this.mode = 'closed'));
    if (this.script.stall === 'greeting') {
      this.mode = 'stalled';
      return;
    }
    const greeting = this.script.greeting;
    if (greeting === undefined) {
      this.send(`220 ${this.mx.name} ESMTP fake`);
      return;
    }
    const text = this.reply(greeting, '', 'fake MX greeting');
    this.send(text);
    if (text.startsWith('421')) this.end();
    else if (!text.startsWith('220')) this.mode = 'refused';
  }

  private receive(chunk: Buffer): void {
    if (this.mode === 'stalled' || this.mode === 'closed') return;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    // Replies to a pipelined group go out in one write.
    const socket = this.socket;
    socket.cork();
    try {
      this.process();
    } finally {
      process.nextTick(() => socket.uncork());
    }
  }

  private process(): void {
    while (this.buffer.length > 0) {
      if (this.mode === 'data') {
        if (!this.receiveData()) return;
        continue;
      }
      if (this.mode !== 'command' && this.mode !== 'refused') return;
      const end = this.buffer.indexOf(CRLF);
      if (end < 0) {
        if (this.buffer.length > MAX_COMMAND_LINE) {
          this.buffer = Buffer.alloc(0);
          this.send(`500 ${this.esc ? '5.5.2 ' : ''}Line too long`);
        }
        return;
      }
      const line = this.buffer.toString('utf8', 0, end);
      this.buffer = this.buffer.subarray(end + 2);
      this.command(line);
      // A command may have ended the session (QUIT, 421, a failed TLS start).
      if ((this.mode as Mode) === 'closed') return;
    }
  }

  private command(line: string): void {
    if (this.sasl) {
      this.saslStep(line);
      return;
    }
    this.mx.commands.push(line);
    const verb = line.split(' ', 1)[0].toUpperCase();
    if (this.mode === 'refused') {
      if (verb === 'QUIT') this.quit();
      else this.send(`503 ${this.esc ? '5.5.1 ' : ''}No service`);
      return;
    }
    const arg = line.slice(verb.length + 1);
    switch (verb) {
      case 'EHLO':
      case 'HELO':
        return this.hello(verb, arg.trim());
      case 'STARTTLS':
        return this.startTls();
      case 'AUTH':
        return this.auth(arg);
      case 'MAIL':
        return this.mail(arg);
      case 'RCPT':
        return this.rcpt(arg);
      case 'DATA':
        return this.data();
      case 'RSET':
        this.resetTransaction();
        return this.send(this.ok('2.0.0', 'Ok'));
      case 'NOOP':
        return this.send(this.ok('2.0.0', 'Ok'));
      case 'QUIT':
        return this.quit();
      default:
        return this.send(`502 ${this.esc ? '5.5.1 ' : ''}Command not implemented`);
    }
  }

  private hello(verb: 'EHLO' | 'HELO', name: string): void {
    if (this.stalls('ehlo')) return;
    const scripted = verb === 'EHLO' ? this.script.ehlo : this.script.helo;
    if (scripted !== undefined) {
      const text = this.reply(scripted, '', `${verb} scripted reply`);
      if (this.after(text)) return;
      if (!text.startsWith('2')) return;
    }
    this.resetTransaction();
    this.helo = name;
    this.esmtp = verb === 'EHLO';
    if (verb === 'HELO') {
      if (scripted === undefined) this.send(`250 ${this.mx.name}`);
      return;
    }
    if (scripted !== undefined) return;
    const o = this.mx.options;
    const lines = [`${this.mx.name} greets ${name}`];
    if (o.pipelining !== false) lines.push('PIPELINING');
    if (o.size !== undefined && o.size !== null) lines.push(o.size > 0 ? `SIZE ${o.size}` : 'SIZE');
    if (o.eightBitMime !== false) lines.push('8BITMIME');
    if (o.smtputf8 !== false) lines.push('SMTPUTF8');
    if (this.esc) lines.push('ENHANCEDSTATUSCODES');
    if (o.dsn !== false) lines.push('DSN');
    if (o.starttls && !this.secure) lines.push('STARTTLS');
    if (o.auth && (this.secure || o.authWithoutTls)) lines.push(['AUTH', ...(o.authMechanisms ?? ['PLAIN', 'LOGIN'])].join(' '));
    this.send(lines.map((l, i) => `250${i < lines.length - 1 ? '-' : ' '}${l}`).join('\r\n'));
  }

  private startTls(): void {
    if (this.stalls('starttls')) return;
    if (!this.mx.options.starttls || this.secure || !this.mx.secureContext) {
      return this.send(`502 ${this.esc ? '5.5.1 ' : ''}STARTTLS not available`);
    }
    if (this.script.starttls !== undefined) {
      const text = this.reply(this.script.starttls, '', 'STARTTLS scripted reply');
      if (this.after(text) || !text.startsWith('220')) return;
    } else {
      this.send(`220 ${this.esc ? '2.0.0 ' : ''}Ready to start TLS`);
    }
    const plain = this.socket;
    plain.uncork(); // the 220 goes out before the handshake starts
    plain.off('data', this.onData);
    this.buffer = Buffer.alloc(0);
    if (this.script.tlsHandshakeFailure) {
      this.mode = 'closed';
      plain.end('this is not a TLS handshake\r\n');
      return;
    }
    const secure = new tls.TLSSocket(plain, { isServer: true, secureContext: this.mx.secureContext });
    secure.on('error', () => plain.destroy());
    secure.once('secure', () => {
      this.socket = secure;
      this.secure = true;
      // RFC 3207 §4.2: the session starts over; the client must EHLO again.
      this.helo = '';
      this.esmtp = false;
      this.authUser = null;
      this.resetTransaction();
      secure.on('data', this.onData);
    });
  }

  private auth(arg: string): void {
    if (this.stalls('auth')) return;
    const o = this.mx.options;
    if (!o.auth || !(this.secure || o.authWithoutTls)) return this.send(`503 ${this.esc ? '5.5.1 ' : ''}AUTH not available`);
    const [mechanism = '', initial] = arg.trim().split(/\s+/);
    const mech = mechanism.toUpperCase();
    if (!(o.authMechanisms ?? ['PLAIN', 'LOGIN']).includes(mech as 'PLAIN')) {
      return this.send(`504 ${this.esc ? '5.5.4 ' : ''}Unrecognized authentication type`);
    }
    if (mech === 'PLAIN') {
      this.sasl = { mechanism: 'PLAIN', step: 0 };
      if (initial !== undefined) return this.saslStep(initial);
      return this.send('334 ');
    }
    if (mech === 'LOGIN') {
      this.sasl = { mechanism: 'LOGIN', step: 0 };
      return this.send('334 VXNlcm5hbWU6');
    }
    this.send(`504 ${this.esc ? '5.5.4 ' : ''}Unrecognized authentication type`);
  }

  private saslStep(line: string): void {
    const sasl = this.sasl!;
    this.mx.commands.push(line.length > 0 ? '<sasl response>' : '');
    const decoded = Buffer.from(line, 'base64').toString('utf8');
    let user: string;
    let pass: string;
    if (sasl.mechanism === 'PLAIN') {
      const parts = decoded.split('\0');
      user = parts[1] ?? '';
      pass = parts[2] ?? '';
    } else if (sasl.step === 0) {
      sasl.user = decoded;
      sasl.step = 1;
      this.send('334 UGFzc3dvcmQ6');
      return;
    } else {
      user = sasl.user ?? '';
      pass = decoded;
    }
    this.sasl = null;
    const expected = this.mx.options.auth!;
    if (this.script.auth !== undefined) {
      const text = this.reply(this.script.auth, '', 'AUTH scripted reply');
      if (!this.after(text) && text.startsWith('235')) this.authUser = user;
      return;
    }
    if (user === expected.user && pass === expected.pass) {
      this.authUser = user;
      this.send(`235 ${this.esc ? '2.7.0 ' : ''}Authentication successful`);
    } else {
      this.send(`535 ${this.esc ? '5.7.8 ' : ''}Authentication credentials invalid`);
    }
  }

  private mail(arg: string): void {
    if (this.stalls('mail')) return;
    if (!this.helo) return this.send(`503 ${this.esc ? '5.5.1 ' : ''}EHLO or HELO first`);
    if (this.from !== null) return this.send(`503 ${this.esc ? '5.5.1 ' : ''}Nested MAIL command`);
    const parsed = parsePath(arg, 'FROM');
    if (!parsed) return this.send(`501 ${this.esc ? '5.5.4 ' : ''}Syntax: MAIL FROM:<address>`);
    const text = this.reply(this.script.mail ?? 250, '2.1.0', 'Ok');
    if (this.after(text)) return;
    if (text.startsWith('2')) {
      this.from = parsed.address;
      this.mailParams = parsed.params;
    }
  }

  private rcpt(arg: string): void {
    if (this.stalls('rcpt')) return;
    if (this.from === null) return this.send(`503 ${this.esc ? '5.5.1 ' : ''}MAIL first`);
    const parsed = parsePath(arg, 'TO');
    if (!parsed) return this.send(`501 ${this.esc ? '5.5.4 ' : ''}Syntax: RCPT TO:<address>`);
    const scripted = lookup(this.script.rcpt, parsed.address) ?? this.script.rcptAll ?? 250;
    const text = this.reply(scripted, '2.1.5', 'Ok');
    if (this.after(text)) return;
    if (text.startsWith('2')) {
      this.to.push(parsed.address);
      this.rcptParams.push(parsed.params);
    }
  }

  private data(): void {
    if (this.stalls('data')) return;
    if (this.from === null) return this.send(`503 ${this.esc ? '5.5.1 ' : ''}MAIL first`);
    if (this.to.length === 0) return this.send(`554 ${this.esc ? '5.5.1 ' : ''}No valid recipients`);
    const text = this.reply(this.script.data ?? 354, '', 'End data with <CR><LF>.<CR><LF>');
    if (this.after(text)) return;
    if (!text.startsWith('354')) return this.resetTransaction();
    this.mode = 'data';
    this.dataChunks = [];
    this.dataSeen = CRLF.length;
    this.dataTail = CRLF;
  }

  /** Consumes data from the buffer; true when the message is complete (and mode is back to command). */
  private receiveData(): boolean {
    const chunk = this.buffer;
    this.buffer = Buffer.alloc(0);
    // The data is looked at as "\r\n" + data, so an empty message (".\r\n") is found too.
    const probe = Buffer.concat([this.dataTail, chunk]);
    const at = probe.indexOf(TERMINATOR);
    if (at < 0) {
      this.dataChunks.push(chunk);
      this.dataSeen += chunk.length;
      this.dataTail = probe.subarray(Math.max(0, probe.length - 4));
      return false;
    }
    const terminatorAt = this.dataSeen - this.dataTail.length + at; // in "\r\n" + data
    this.dataChunks.push(chunk);
    const data = Buffer.concat(this.dataChunks);
    this.dataChunks = [];
    // In data coordinates the terminator starts 2 octets earlier; the body keeps its last CRLF.
    const stuffed = data.subarray(0, terminatorAt);
    this.buffer = data.subarray(terminatorAt + 3);
    this.mode = 'command';
    this.message(unstuff(stuffed));
    return true;
  }

  private message(body: Buffer): void {
    const message: ReceivedMessage = {
      connectionId: this.id,
      helo: this.helo,
      tls: this.secure,
      authUser: this.authUser,
      from: this.from ?? '',
      to: this.to,
      mailParams: this.mailParams,
      rcptParams: this.rcptParams,
      body,
      reply: null,
      accepted: false,
    };
    this.resetTransaction();
    const script = this.script;
    if (script.stall === 'dot') {
      this.mode = 'stalled';
      this.mx.record(message);
      return;
    }
    if (script.dropAfterData) {
      this.mx.record(message);
      this.mode = 'closed';
      this.socket.destroy();
      return;
    }
    const size = this.mx.options.size;
    let text: string;
    if (script.afterData !== undefined) text = this.reply(script.afterData, '2.0.0', `Ok: queued as ${this.mx.nextQueueId()}`);
    else if (size && body.length > size) text = this.reply(552, '5.3.4', 'Message size exceeds fixed limit');
    else text = this.reply(250, '2.0.0', `Ok: queued as ${this.mx.nextQueueId()}`);
    message.reply = text;
    message.accepted = text.startsWith('2');
    this.mx.record(message);
    this.after(text);
  }

  private resetTransaction(): void {
    this.from = null;
    this.mailParams = {};
    this.to = [];
    this.rcptParams = [];
  }

  private quit(): void {
    this.send(`221 ${this.esc ? '2.0.0 ' : ''}Bye`);
    this.end();
  }

  private end(): void {
    this.mode = 'closed';
    this.socket.end();
  }

  /** True (and the session stops answering) if the script stalls here. */
  private stalls(stage: FakeMxStage): boolean {
    if (this.script.stall !== stage) return false;
    this.mode = 'stalled';
    return true;
  }

  /** After a reply was sent: a 421 closes the channel (RFC 5321 §3.8). True if the session ended. */
  private after(text: string): boolean {
    if (!text.startsWith('421')) return false;
    this.end();
    return true;
  }

  /** Formats and sends a reply; returns its text. */
  private reply(reply: ScriptedReply, enhanced: string, text: string): string {
    let out: string;
    if (typeof reply === 'number') {
      const code = String(reply);
      const esc = this.esc && enhanced !== '' && reply >= 200 ? (code[0] === enhanced[0] ? enhanced : `${code[0]}.0.0`) : '';
      const words = reply === 421 ? `${this.mx.name} Service not available, closing channel` : code[0] === '2' || code[0] === '3' ? text : 'scripted failure';
      out = [code, esc, words].filter((s) => s !== '').join(' ');
    } else {
      out = reply;
    }
    this.send(out.split('\n').map((l) => l.replace(/\r$/, '')).join('\r\n'));
    return out;
  }

  private ok(enhanced: string, text: string): string {
    return `250 ${this.esc ? enhanced + ' ' : ''}${text}`;
  }

  private send(text: string): void {
    if (this.mode === 'closed' || this.socket.destroyed) return;
    this.socket.write(text + '\r\n');
  }
}

function lookup(map: Record<string, ScriptedReply> | undefined, address: string): ScriptedReply | undefined {
  if (!map) return undefined;
  const key = address.toLowerCase();
  for (const [k, v] of Object.entries(map)) if (k.toLowerCase() === key) return v;
  return undefined;
}

/** "FROM:<a@b> KEY=VALUE ..." → the address and parameters. */
function parsePath(arg: string, keyword: 'FROM' | 'TO'): { address: string; params: Record<string, string | true> } | null {
  const m = new RegExp(`^${keyword}:\\s*<([^>]*)>(.*)$`, 'i').exec(arg);
  if (!m) return null;
  const params: Record<string, string | true> = {};
  for (const part of m[2].trim().split(/\s+/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) params[part.toUpperCase()] = true;
    else params[part.slice(0, eq).toUpperCase()] = part.slice(eq + 1);
  }
  return { address: m[1], params };
}

/** RFC 5321 §4.5.2, receiver side: one leading "." is removed from every line that has one. */
function unstuff(stuffed: Buffer): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  if (stuffed[0] === 0x2e) start = 1;
  for (;;) {
    const at = stuffed.indexOf(CRLF_DOT, start);
    if (at < 0) break;
    parts.push(stuffed.subarray(start, at + 2));
    start = at + 3;
  }
  parts.push(stuffed.subarray(start));
  return Buffer.concat(parts);
}
