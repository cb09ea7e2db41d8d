/**
 * The DATA filter between smtp-server (which has already removed dot-stuffing) and the
 * blob writer. It:
 *  - refuses bare CR and bare LF. smtp-server only ends DATA at <CRLF>.<CRLF>, so
 *    sequences like <LF>.<LF> stay inside the message; refusing them means we never store
 *    or relay a message another server would split in two (SMTP smuggling, RFC 5321 §2.3.8:
 *    CR and LF must only occur together as CRLF);
 *  - refuses NUL octets: neither RFC 5322 text nor 8BITMIME (RFC 6152 §2) allows them, and a
 *    server further on that strips them would turn <CRLF><NUL>.<CRLF> into end-of-data;
 *  - refuses text lines longer than the limit (RFC 5321 §4.5.3.1.6: 1000 octets with CRLF);
 *  - stops writing once the message is over the size limit (RFC 1870: 552 at the end), so
 *    an oversized message never costs more than the limit in disk space;
 *  - prepends the trace header and any missing header fields (Message-ID, Date).
 * A message with a violation is drained to its end, not passed on: the session answers 5xx
 * once smtp-server has read the whole DATA, so the connection stays in sync.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { scanHeaderNames } from '../mail/header-scan.js';

export type GuardViolation = 'bare-lf' | 'bare-cr' | 'nul' | 'line-too-long' | 'too-big';

export interface MessageGuardOptions {
  /** Longest permitted line in octets, CRLF included. */
  maxLineLength: number;
  /** Largest message in octets (without the prefix); more is a 'too-big' violation. */
  maxBytes?: number;
  /** Header lines put before the message (the Received header), CRLF-terminated. */
  prefix: string;
  /**
   * Called once with the lowercase field names of the message's header section;
   * returns header lines (CRLF-terminated) to add, or ''. Headers longer than
   * `maxHeaderScan` are passed on unscanned.
   */
  missingHeaders?: (present: Set<string>) => string;
  maxHeaderScan?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const HEADER_END = Buffer.from('\r\n\r\n');

export class MessageGuard extends Transform {
  violation: GuardViolation | null = null;
  private lineLength = 0;
  private lastByte = -1;
  private bytes = 0;
  private headerChunks: Buffer[] | null = [];
  private headerBytes = 0;
  private readonly maxHeaderScan: number;

  constructor(private readonly options: MessageGuardOptions) {
    super();
    this.maxHeaderScan = options.maxHeaderScan ?? 1024 * 1024;
    if (!options.missingHeaders) {
      this.headerChunks = null;
      this.push(options.prefix);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.violation === null && this.options.maxBytes !== undefined && this.bytes > this.options.maxBytes) {
      this.violation = 'too-big';
    }
    if (this.violation === null) this.check(chunk);
    if (this.violation !== null) {
      this.headerChunks = null;
      return callback();
    }
    if (this.headerChunks) {
      this.headerChunks.push(chunk);
      this.headerBytes += chunk.length;
      this.tryReleaseHeaders(false);
      return callback();
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    // A CR as the very last byte was never followed by its LF.
    if (this.violation === null && this.lastByte === CR) this.violation = 'bare-cr';
    if (this.violation === null && this.headerChunks) this.tryReleaseHeaders(true);
    callback();
  }

  /** Finds bare CR/LF and over-long lines; `lastByte` carries state across chunks. */
  private check(chunk: Buffer): void {
    const max = this.options.maxLineLength;
    let pos = 0;
    if (chunk.indexOf(0) !== -1) {
      this.violation = 'nul';
      return;
    }
    // A CR that ended the previous chunk must be followed by LF here.
    if (this.lastByte === CR && chunk[0] !== LF) {
      this.violation = 'bare-cr';
      return;
    }
    while (pos < chunk.length) {
      const lf = chunk.indexOf(LF, pos);
      const end = lf === -1 ? chunk.length : lf;
      // Any CR inside this line (before its LF) that isn't right before the LF is bare.
      const cr = chunk.indexOf(CR, pos);
      if (cr !== -1 && cr < end - 1) {
        this.violation = 'bare-cr';
        return;
      }
      if (lf === -1) {
        this.lineLength += chunk.length - pos;
        // Allow the CR of the line's CRLF to be counted before we see the LF.
        if (this.lineLength > max) this.violation = 'line-too-long';
        break;
      }
      const before = lf > 0 ? chunk[lf - 1] : this.lastByte;
      if (before !== CR) {
        this.violation = 'bare-lf';
        return;
      }
      if (this.lineLength + (lf - pos) + 1 > max) {
        this.violation = 'line-too-long';
        return;
      }
      this.lineLength = 0;
      pos = lf + 1;
    }
    this.lastByte = chunk[chunk.length - 1];
  }

  /** Emits prefix + added headers + the buffered start once the header section is complete. */
  private tryReleaseHeaders(atEnd: boolean): void {
    const chunks = this.headerChunks!;
    const buffered = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.headerBytes);
    // A message may start with the empty line (no header fields at all).
    const startsEmpty = buffered.length >= 2 && buffered[0] === CR && buffered[1] === LF;
    const end = startsEmpty ? 0 : buffered.indexOf(HEADER_END);
    const complete = end !== -1 || atEnd;
    if (!complete && this.headerBytes < this.maxHeaderScan) {
      this.headerChunks = [buffered];
      return;
    }
    let added = '';
    if (complete) {
      const headerSection = end === -1 ? buffered : buffered.subarray(0, end + 2);
      added = this.options.missingHeaders!(scanHeaderNames(headerSection));
    }
    this.headerChunks = null;
    this.push(this.options.prefix + added);
    this.push(buffered);
  }
}
