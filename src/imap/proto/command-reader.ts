/**
 * Assembles complete IMAP commands from the bytes a client sends: lines plus the literals
 * they announce (RFC 9051 §4.3 `{n}`, RFC 7888 `{n+}`, RFC 3516 `~{n}`). Pure and pull-based,
 * so the server decides when to look at the next command:
 *
 *   const reader = new CommandReader({ appendLimit: 25 * 1024 * 1024 });
 *   socket.on('data', (chunk) => { reader.push(chunk); pump(); });
 *   async function pump() {            // one at a time: commands run in order
 *     for (let ev = reader.read(); ev; ev = reader.read()) {
 *       switch (ev.type) {
 *         case 'continue': write('+ Ready\r\n'); break;              // synchronizing literal accepted
 *         case 'command':  await run(parseCommand(ev.bytes)); break; // see parser.ts
 *         case 'reject':   write(`${ev.tag ?? '*'} ${ev.status} ...`); if (ev.close) bye(); break;
 *         case 'line':     ...  // only in 'line' mode (IDLE "DONE", AUTHENTICATE responses)
 *       }
 *     }
 *   }
 *
 * read() returns one event, or null when it needs more bytes. It never looks past the end of
 * the command it just returned, so after a command the server can change the mode first:
 *   - IDLE, AUTHENTICATE: setMode('line'); each read() then gives one raw line (no CRLF) until
 *     setMode('command').
 *   - STARTTLS: takeBuffered() and throw the bytes away — anything the client pipelined after
 *     STARTTLS was sent in the clear and must not run after the handshake (the STARTTLS
 *     command-injection attack, CVE-2011-0411).
 *   - COMPRESS: takeBuffered() gives bytes that arrived after the command, for the inflater.
 *
 * Limits (constructor options, changeable with setLimits(), e.g. smaller before login):
 *   maxLineLength        65536   octets of one line, literals and CRLF excluded (RFC 7162 §4
 *                                asks for at least 8192)
 *   maxLiteralSize       65536   one literal in any command but APPEND
 *   appendLimit       25 MiB     one literal in APPEND: the APPENDLIMIT capability (RFC 7889)
 *   maxLiterals            256   literals in one command (MULTIAPPEND sends one per message)
 *   maxCommandSize      64 MiB   the whole command: lines, CRLFs and literals
 *   nonSyncLiteralLimit   4096   largest {n+} accepted: 4096 is LITERAL- (RFC 7888 §5, part of
 *                                IMAP4rev2); Infinity for LITERAL+
 *   maxDiscard          64 MiB   largest refused {n+} literal read and thrown away; beyond it
 *                                the connection must be closed (RFC 7888 §4)
 *
 * A 'continue' event names the tag and command, so the server may still refuse the literal
 * (refuseLiteral(), then its own tagged NO/BAD): an unknown command, APPEND to a mailbox that
 * does not exist, any literal before login. Lines without a valid tag or command name get no
 * "+" at all (`BAD`).
 *
 * What happens when a limit is hit:
 *   - A synchronizing literal that is too big (or one too many) is refused at once: no "+"
 *     is sent, the event is 'reject', and the client, which waits for "+", gives up the
 *     command (RFC 9051 §7.6). Nothing of the literal is read.
 *   - A non-synchronizing literal is already on its way. RFC 7888 §4 leaves two ways out: read
 *     and discard it, or close. The reader discards up to maxDiscard octets (never buffering
 *     them), keeps discarding the rest of the command (further {n+} literals included), and
 *     then reports 'reject'. Bigger than maxDiscard: 'reject' with close: true at once; the
 *     reader is then closed and the server sends `* BYE` and closes.
 *   - APPEND gets `NO [TOOBIG]` (RFC 7889); other commands `BAD [TOOBIG]` (RFC 7888 §5).
 *     Too many literals: `NO`/`BAD [LIMIT]` (RFC 5530). A line over maxLineLength is dropped
 *     without buffering and answered `BAD` once its end arrives.
 *
 * Line ends: CRLF, and a bare LF is accepted too. Empty lines between commands are ignored.
 * The command bytes handed out are the lines joined with CRLF and the literal octets in
 * place, without the final CRLF — exactly what parseCommand() takes.
 *
 * Backpressure: `bufferedBytes` counts bytes pushed but not yet read; pause the socket above
 * some threshold while a command runs, and resume after read() returns null.
 *
 * Pure: no I/O.
 */

/** Limits a CommandReader enforces; see the file comment for defaults and effects. */
export interface CommandReaderLimits {
  maxLineLength: number;
  maxLiteralSize: number;
  appendLimit: number;
  maxLiterals: number;
  maxCommandSize: number;
  nonSyncLiteralLimit: number;
  maxDiscard: number;
}

export const DEFAULT_READER_LIMITS: Readonly<CommandReaderLimits> = Object.freeze({
  maxLineLength: 64 * 1024,
  maxLiteralSize: 64 * 1024,
  appendLimit: 25 * 1024 * 1024,
  maxLiterals: 256,
  maxCommandSize: 64 * 1024 * 1024,
  nonSyncLiteralLimit: 4096, // RFC 7888 §5 LITERAL-
  maxDiscard: 64 * 1024 * 1024,
});

/** 'command': assemble commands with literals. 'line': hand out raw lines (IDLE, AUTHENTICATE). */
export type ReaderMode = 'command' | 'line';

export type ReaderEvent =
  /** A complete command; pass `bytes` to parseCommand(). tag/name are a best-effort preview. */
  | { type: 'command'; tag: string | null; name: string | null; bytes: Buffer }
  /** A synchronizing literal was accepted: send `+ <text>\r\n` (or call refuseLiteral()). */
  | { type: 'continue'; tag: string | null; name: string | null; size: number; binary: boolean }
  /**
   * The command was refused and its bytes dropped: answer `<tag> <status> [<code>] <text>`
   * (`*` for a null tag). With close: true send `* BYE [<code>] <text>` and close instead.
   */
  | {
      type: 'reject';
      tag: string | null;
      name: string | null;
      status: 'BAD' | 'NO';
      code: 'TOOBIG' | 'LIMIT' | null;
      text: string;
      close: boolean;
    }
  /** 'line' mode: one line without its CRLF. */
  | { type: 'line'; line: Buffer }
  /** 'line' mode: a line longer than maxLineLength was dropped. */
  | { type: 'line-too-long' };

type Rejection = Omit<Extract<ReaderEvent, { type: 'reject' }>, 'type' | 'tag' | 'name'>;

interface PendingCommand {
  parts: Buffer[];
  size: number;
  literals: number;
  tag: string | null;
  name: string | null;
  append: boolean;
  rejection: Rejection | null;
}

type State =
  | { kind: 'line' }
  | { kind: 'literal'; remaining: number }
  | { kind: 'skip-literal'; remaining: number }
  | { kind: 'skip-line' }
  | { kind: 'closed' };

const CRLF = Buffer.from('\r\n');
const TAIL_KEEP = 32; // enough for "~{<20 digits>+}\r"

/**
 * A FIFO of received chunks; bytes are sliced out without copying. The search for LF resumes
 * where it stopped, so a line that trickles in one byte per chunk costs linear time.
 */
class ByteQueue {
  private chunks: Buffer[] = [];
  private offset = 0;
  length = 0;
  /** Chunks before this index have been searched for LF; scanBase is where it starts. */
  private scanK = 0;
  private scanBase = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Index of the first LF, or -1 if there is none before `limit`. */
  indexOfLF(limit: number): number {
    const end = Math.min(this.length, limit);
    while (this.scanK < this.chunks.length && this.scanBase < end) {
      const chunk = this.chunks[this.scanK];
      const start = this.scanK === 0 ? this.offset : 0;
      const idx = chunk.indexOf(0x0a, start);
      if (idx !== -1) {
        const logical = this.scanBase + idx - start;
        return logical < end ? logical : -1;
      }
      this.scanBase += chunk.length - start;
      this.scanK++;
    }
    return -1;
  }

  /** Removes and returns the first n bytes as slices of the received chunks. */
  take(n: number): Buffer[] {
    this.scanK = 0;
    this.scanBase = 0;
    const out: Buffer[] = [];
    while (n > 0) {
      const chunk = this.chunks[0];
      const avail = chunk.length - this.offset;
      if (avail <= n) {
        out.push(this.offset === 0 ? chunk : chunk.subarray(this.offset));
        this.chunks.shift();
        this.offset = 0;
        this.length -= avail;
        n -= avail;
      } else {
        out.push(chunk.subarray(this.offset, this.offset + n));
        this.offset += n;
        this.length -= n;
        n = 0;
      }
    }
    return out;
  }

  /** The first n bytes (n <= length) without removing them. */
  peek(n: number): Buffer {
    const out: Buffer[] = [];
    let need = n;
    for (let k = 0; k < this.chunks.length && need > 0; k++) {
      const start = k === 0 ? this.offset : 0;
      const part = this.chunks[k].subarray(start, start + need);
      out.push(part);
      need -= part.length;
    }
    return Buffer.concat(out);
  }

  skip(n: number): void {
    this.take(n);
  }
}

interface LiteralMarker {
  /** Octet count; Infinity when the number has too many digits to be meant. */
  size: number;
  nonSync: boolean;
  binary: boolean;
}

/**
 * RFC 7888 §3 / RFC 9051 §4.3: a line that ends in `{n}`, `{n+}` (or `~{n}` for literal8)
 * announces a literal. Scans backwards from the end, so the cost is the marker's length.
 */
export function findLiteralMarker(line: Buffer): LiteralMarker | null {
  let i = line.length - 1;
  if (i < 2 || line[i] !== 0x7d) return null; // "}"
  i--;
  const nonSync = line[i] === 0x2b; // "+"
  if (nonSync) i--;
  const digitsEnd = i + 1;
  while (i >= 0 && line[i] >= 0x30 && line[i] <= 0x39) i--;
  if (i < 0 || line[i] !== 0x7b || i + 1 === digitsEnd) return null; // "{" and at least one digit
  const digits = line.toString('latin1', i + 1, digitsEnd).replace(/^0+(?=\d)/, '');
  const size = digits.length > 15 ? Infinity : Number(digits);
  const binary = i > 0 && line[i - 1] === 0x7e; // "~"
  return { size, nonSync, binary };
}

// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">.
const TAG_PREVIEW = /^([\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+) ((?:UID )?[A-Za-z0-9.\-_]+)?/i;

/** The tag and upper-case command name ("UID FETCH") at the start of a command line. */
export function previewCommand(head: Buffer): { tag: string | null; name: string | null } {
  const m = TAG_PREVIEW.exec(head.toString('latin1', 0, Math.min(head.length, 512)));
  if (!m) return { tag: null, name: null };
  const name = m[2] ? m[2].toUpperCase() : null;
  return { tag: m[1], name: name === 'UID' ? null : name };
}

export class CommandReader {
  private limits: CommandReaderLimits;
  private readonly queue = new ByteQueue();
  private mode: ReaderMode = 'command';
  private state: State = { kind: 'line' };
  private cmd: PendingCommand | null = null;
  /** Last bytes of a line being dropped (to find a literal marker at its end). */
  private tail: Buffer = Buffer.alloc(0);

  constructor(limits: Partial<CommandReaderLimits> = {}) {
    this.limits = { ...DEFAULT_READER_LIMITS, ...limits };
  }

  /** Changes limits, e.g. larger ones after authentication. Applies from the next check on. */
  setLimits(limits: Partial<CommandReaderLimits>): void {
    this.limits = { ...this.limits, ...limits };
  }

  getLimits(): Readonly<CommandReaderLimits> {
    return { ...this.limits };
  }

  /** Appends received bytes. Nothing is parsed until read(). Ignored once closed. */
  push(chunk: Buffer): void {
    if (this.state.kind === 'closed') return;
    this.queue.push(chunk);
  }

  /** Bytes pushed but not yet consumed by read(). */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** True while bytes of an unfinished command are held (mid-line, mid-literal, or dropping). */
  get inCommand(): boolean {
    return this.cmd !== null || (this.state.kind !== 'line' && this.state.kind !== 'closed') || this.queue.length > 0;
  }

  get closed(): boolean {
    return this.state.kind === 'closed';
  }

  /** Switches between commands and raw lines; only between commands. */
  setMode(mode: ReaderMode): void {
    if (this.cmd !== null || (this.state.kind !== 'line' && this.state.kind !== 'closed')) {
      throw new Error('CommandReader.setMode() called in the middle of a command');
    }
    this.mode = mode;
  }

  getMode(): ReaderMode {
    return this.mode;
  }

  /**
   * After a 'continue' event, refuses the literal instead of sending "+": the partial command
   * is dropped and the server answers it with a tagged NO/BAD of its own (e.g. an APPEND to a
   * mailbox that does not exist, or any literal before login).
   */
  refuseLiteral(): void {
    if (this.state.kind !== 'literal' || this.cmd === null) {
      throw new Error('CommandReader.refuseLiteral() called without a pending literal');
    }
    this.cmd = null;
    this.state = { kind: 'line' };
  }

  /**
   * Removes and returns every unread byte and drops any partial command: after STARTTLS
   * (discard them) or COMPRESS (inflate them).
   */
  takeBuffered(): Buffer {
    const bytes = Buffer.concat(this.queue.take(this.queue.length));
    this.cmd = null;
    if (this.state.kind !== 'closed') this.state = { kind: 'line' };
    return bytes;
  }

  /** The next event, or null when more bytes are needed (or the reader is closed). */
  read(): ReaderEvent | null {
    for (;;) {
      const state = this.state;
      switch (state.kind) {
        case 'closed':
          return null;
        case 'literal': {
          const n = Math.min(state.remaining, this.queue.length);
          if (n > 0) {
            (this.cmd as PendingCommand).parts.push(...this.queue.take(n));
            state.remaining -= n;
          }
          if (state.remaining > 0) return null;
          this.state = { kind: 'line' };
          break;
        }
        case 'skip-literal': {
          const n = Math.min(state.remaining, this.queue.length);
          if (n > 0) {
            this.queue.skip(n);
            state.remaining -= n;
          }
          if (state.remaining > 0) return null;
          this.state = { kind: 'line' };
          break;
        }
        case 'skip-line': {
          const idx = this.queue.indexOfLF(Infinity);
          if (idx === -1) {
            this.keepTail(this.queue.take(this.queue.length));
            return null;
          }
          this.keepTail(this.queue.take(idx + 1));
          this.state = { kind: 'line' };
          const event = this.endOfDroppedLine(stripEol(this.tail));
          this.tail = Buffer.alloc(0);
          if (event) return event;
          break;
        }
        case 'line': {
          const limit = this.limits.maxLineLength + 2;
          const idx = this.queue.indexOfLF(limit);
          if (idx === -1) {
            if (this.queue.length < limit) return null;
            this.startDroppingLine(limit);
            break;
          }
          const line = stripEol(Buffer.concat(this.queue.take(idx + 1)));
          const event = this.mode === 'line' && this.cmd === null ? { type: 'line' as const, line } : this.onLine(line);
          if (event) return event;
          break;
        }
      }
    }
  }

  /** The first `length` bytes of a line hold no LF and exceed maxLineLength: drop the line, remembering its tail. */
  private startDroppingLine(length: number): void {
    if (!(this.mode === 'line' && this.cmd === null)) {
      if (this.cmd === null) this.cmd = this.newCommand(this.queue.peek(Math.min(this.queue.length, 512)));
      this.reject(this.cmd, { status: 'BAD', code: null, text: 'Command line too long', close: false });
    }
    this.tail = Buffer.alloc(0);
    this.keepTail(this.queue.take(length));
    this.state = { kind: 'skip-line' };
  }

  private keepTail(parts: Buffer[]): void {
    const joined = Buffer.concat([this.tail, ...parts.map((p) => p.subarray(Math.max(0, p.length - TAIL_KEEP)))]);
    this.tail = joined.subarray(Math.max(0, joined.length - TAIL_KEEP));
  }

  /** The end of a dropped (overlong) line has arrived. */
  private endOfDroppedLine(tail: Buffer): ReaderEvent | null {
    if (this.cmd === null) return { type: 'line-too-long' };
    return this.continueRejected(this.cmd, tail);
  }

  private newCommand(firstLine: Buffer): PendingCommand {
    const { tag, name } = previewCommand(firstLine);
    return { parts: [], size: 0, literals: 0, tag, name, append: name === 'APPEND', rejection: null };
  }

  private reject(cmd: PendingCommand, rejection: Rejection): void {
    if (cmd.rejection === null) cmd.rejection = rejection;
    cmd.parts = [];
  }

  /** A refusal for a size limit: NO for APPEND (RFC 7889), BAD otherwise (RFC 7888 §5). */
  private sizeRejection(cmd: PendingCommand, text: string): Rejection {
    return { status: cmd.append ? 'NO' : 'BAD', code: 'TOOBIG', text, close: false };
  }

  /** One complete line in command mode. */
  private onLine(line: Buffer): ReaderEvent | null {
    if (this.cmd === null) {
      if (line.length === 0) return null; // a stray empty line between commands
      this.cmd = this.newCommand(line);
    }
    const cmd = this.cmd;
    cmd.size += line.length + 2;
    if (cmd.rejection !== null) return this.continueRejected(cmd, line);
    if (line.length > this.limits.maxLineLength) {
      this.reject(cmd, { status: 'BAD', code: null, text: 'Command line too long', close: false });
      return this.continueRejected(cmd, line);
    }
    if (cmd.size > this.limits.maxCommandSize) {
      this.reject(cmd, this.sizeRejection(cmd, 'Command too long'));
      return this.continueRejected(cmd, line);
    }
    const marker = findLiteralMarker(line);
    if (marker === null) {
      cmd.parts.push(line);
      const bytes = Buffer.concat(cmd.parts);
      this.cmd = null;
      return { type: 'command', tag: cmd.tag, name: cmd.name, bytes };
    }
    cmd.literals++;
    const rejection = this.checkLiteral(cmd, marker);
    if (rejection !== null) {
      this.reject(cmd, rejection);
      return this.continueRejected(cmd, line);
    }
    cmd.parts.push(line, CRLF);
    cmd.size += marker.size;
    this.state = { kind: 'literal', remaining: marker.size };
    if (marker.nonSync) return null;
    return { type: 'continue', tag: cmd.tag, name: cmd.name, size: marker.size, binary: marker.binary };
  }

  private checkLiteral(cmd: PendingCommand, marker: LiteralMarker): Rejection | null {
    const l = this.limits;
    // No "+" for a line that is not a command at all: its literal would only be more garbage.
    if (cmd.tag === null) return { status: 'BAD', code: null, text: 'Invalid tag', close: false };
    if (cmd.name === null) return { status: 'BAD', code: null, text: 'Missing command', close: false };
    if (cmd.literals > l.maxLiterals) {
      const text = 'Too many literals in one command';
      return { status: cmd.append ? 'NO' : 'BAD', code: 'LIMIT', text, close: false };
    }
    const max = cmd.append ? l.appendLimit : l.maxLiteralSize;
    if (marker.size > max) return this.sizeRejection(cmd, cmd.append ? 'Message too big' : 'Literal too big');
    if (marker.nonSync && marker.size > l.nonSyncLiteralLimit) {
      return this.sizeRejection(cmd, `Non-synchronizing literal over ${l.nonSyncLiteralLimit} octets`);
    }
    if (cmd.size + marker.size > l.maxCommandSize) return this.sizeRejection(cmd, 'Command too long');
    return null;
  }

  /**
   * The command is refused; `line` (or the tail of a dropped line) has just ended. A
   * non-synchronizing literal announced there is already on its way and is skipped (or the
   * connection given up); otherwise the command ends here and the refusal is reported.
   */
  private continueRejected(cmd: PendingCommand, line: Buffer): ReaderEvent | null {
    const marker = findLiteralMarker(line);
    const rejection = cmd.rejection as Rejection;
    if (marker !== null && marker.nonSync) {
      if (marker.size > this.limits.maxDiscard) {
        this.cmd = null;
        this.state = { kind: 'closed' };
        this.queue.take(this.queue.length);
        const text = rejection.code === 'TOOBIG' ? rejection.text : 'Literal too big';
        const { status } = rejection;
        return { type: 'reject', tag: cmd.tag, name: cmd.name, status, code: 'TOOBIG', text, close: true };
      }
      this.state = { kind: 'skip-literal', remaining: marker.size };
      return null;
    }
    this.cmd = null;
    return { type: 'reject', tag: cmd.tag, name: cmd.name, ...rejection };
  }
}

function stripEol(line: Buffer): Buffer {
  let end = line.length;
  if (end > 0 && line[end - 1] === 0x0a) end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  return line.subarray(0, end);
}
