/**
 * A raw SMTP client for exact transcripts: it writes the bytes it is given (nothing is
 * added or normalised) and reads replies, multi-line aware. Used where nodemailer would
 * hide what happens on the wire (pipelining, smuggling, bad syntax, TLS upgrade).
 */
import net from 'node:net';
import tls from 'node:tls';

export interface Reply {
  code: number;
  /** The RFC 3463 enhanced status code of the last line, if it has one. */
  enhanced: string | null;
  /** Text of each line without the code, separator and enhanced code. */
  lines: string[];
  /** The reply as received, lines joined with CRLF. */
  raw: string;
}

interface Waiter {
  resolve: (reply: Reply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT = 15_000;
const REPLY_LINE = /^(\d{3})(?:([ -])(.*))?$/s;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: (.*))?$/s;

export class RawSmtpClient {
  greeting!: Reply;
  /** Resolves when the server closed the connection (or it was destroyed). */
  readonly closed: Promise<void>;
  isClosed = false;
  private socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pendingLines: string[] = [];
  private readonly replies: Reply[] = [];
  private readonly waiters: Waiter[] = [];
  private markClosed!: () => void;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.attach(socket);
  }

  /** Connects, and waits for the greeting (a 220, or whatever the server sends first). */
  static async connect(port: number, options: { tls?: boolean; host?: string } = {}): Promise<RawSmtpClient> {
    const host = options.host ?? '127.0.0.1';
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = options.tls
        ? tls.connect({ host, port, rejectUnauthorized: false }, () => resolve(s))
        : net.connect({ host, port }, () => resolve(s));
      s.once('error', reject);
    });
    const client = new RawSmtpClient(socket);
    client.greeting = await client.readReply();
    return client;
  }

  get secure(): boolean {
    return this.socket instanceof tls.TLSSocket && this.socket.encrypted;
  }

  /** Sends exactly these bytes. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Sends a command line (CRLF is appended) and returns the next reply. */
  async command(line: string | Buffer, timeoutMs = DEFAULT_TIMEOUT): Promise<Reply> {
    this.write(Buffer.concat([typeof line === 'string' ? Buffer.from(line, 'utf8') : line, Buffer.from('\r\n')]));
    return this.readReply(timeoutMs);
  }

  /** The next reply, from the buffer or the wire. */
  readReply(timeoutMs = DEFAULT_TIMEOUT): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.isClosed) return Promise.reject(new Error('connection closed before a reply'));
    return new Promise<Reply>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error(`no reply within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Replies received but not yet read, and bytes of an incomplete line. */
  get unread(): { replies: Reply[]; partial: number } {
    return { replies: [...this.replies], partial: this.buffer.length + this.pendingLines.length };
  }

  async ehlo(name = 'client.example'): Promise<Reply> {
    return this.command(`EHLO ${name}`);
  }

  /**
   * Performs the TLS handshake on this connection; call it once the server has said 220 to
   * STARTTLS. Throws if anything arrived in plaintext after that 220.
   */
  async upgrade(): Promise<void> {
    if (this.buffer.length > 0 || this.replies.length > 0 || this.pendingLines.length > 0) {
      throw new Error('plaintext data arrived after the STARTTLS reply');
    }
    const plain = this.socket;
    plain.off('data', this.onData);
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  /** STARTTLS, the handshake, and EHLO again; returns the EHLO reply. */
  async startTls(ehloName = 'client.example'): Promise<Reply> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.raw}`);
    await this.upgrade();
    return this.ehlo(ehloName);
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', () => {
      /* the 'close' that follows is what counts */
    });
    socket.once('close', () => {
      if (socket !== this.socket) return;
      this.isClosed = true;
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error('connection closed before a reply'));
      }
      this.markClosed();
    });
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end < 0) break;
      const line = this.buffer.subarray(0, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 2);
      this.pendingLines.push(line);
      const m = REPLY_LINE.exec(line);
      // A line that is not a reply line ends the reply too, with code 0, so a test sees it.
      if (!m || m[2] !== '-') this.emitReply(m ? undefined : 0);
    }
  }

  private emitReply(badCode?: number): void {
    const rawLines = this.pendingLines;
    this.pendingLines = [];
    const code = badCode ?? Number(rawLines[rawLines.length - 1].slice(0, 3));
    let enhanced: string | null = null;
    const lines = rawLines.map((l) => {
      const text = l.slice(4);
      const e = ENHANCED.exec(text);
      if (e) {
        enhanced = e[1];
        return e[2] ?? '';
      }
      return text;
    });
    const reply: Reply = { code, enhanced, lines, raw: rawLines.join('\r\n') };
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(reply);
    } else {
      this.replies.push(reply);
    }
  }
}

/** "code enhanced" of a reply, e.g. "550 5.7.1", for compact assertions. */
export function status(reply: Reply): string {
  return reply.enhanced ? `${reply.code} ${reply.enhanced}` : String(reply.code);
}

/** Dot-stuffs a message body and adds the end-of-data line (RFC 5321 §4.5.2). */
export function dataPayload(message: string | Buffer): Buffer {
  const text = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const stuffed = Buffer.from(text.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
  const needsCrlf = !stuffed.subarray(-2).equals(Buffer.from('\r\n'));
  return Buffer.concat([stuffed, Buffer.from(needsCrlf ? '\r\n.\r\n' : '.\r\n')]);
}
