/**
 * SMTP replies as the client reads them (RFC 5321 §4.2): an incremental, bounded parser
 * for what a remote server sends, and the one-line form kept in delivery outcomes.
 * Pure: no I/O. A hostile peer can make the parser report an error, never throw anything
 * else or grow without bound.
 */

export interface SmtpReply {
  /** The three-digit reply code (RFC 5321 §4.2.1). */
  code: number;
  /** Text of each line after the code and separator; an enhanced code stays in the text. */
  lines: string[];
}

/** What the peer sent was not an SMTP reply (or was too big to be one we accept). */
export class SmtpReplySyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmtpReplySyntaxError';
  }
}

export interface ReplyLimits {
  /** Longest reply line in octets, CRLF excluded. RFC 5321 §4.5.3.1.5 says 512 with CRLF; servers exceed it. */
  maxLineLength: number;
  /** Most lines in one multi-line reply (an EHLO reply has one per extension). */
  maxLines: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = { maxLineLength: 4096, maxLines: 100 };

const LF = 0x0a;
const CR = 0x0d;

/**
 * Splits the bytes a server sends into replies. Lines end at LF (a CR before it is
 * dropped), so a server that sends bare LF is still understood. Feed chunks with push();
 * each complete reply is handed to `onReply` in order.
 */
export class ReplyParser {
  private partial: Buffer | null = null;
  private lines: string[] = [];
  private readonly limits: ReplyLimits;

  constructor(
    private readonly onReply: (reply: SmtpReply) => void,
    limits: ReplyLimits = DEFAULT_REPLY_LIMITS,
  ) {
    this.limits = limits;
  }

  /** True while part of a reply has been received but not its end. */
  get inReply(): boolean {
    return this.partial !== null || this.lines.length > 0;
  }

  /** Forgets anything buffered (RFC 3207 §4.2: nothing read before the TLS handshake counts after it). */
  reset(): void {
    this.partial = null;
    this.lines = [];
  }

  /** Throws SmtpReplySyntaxError on input that is not a reply; the parser is then unusable. */
  push(chunk: Buffer): void {
    let data = chunk;
    if (this.partial !== null) {
      data = Buffer.concat([this.partial, chunk]);
      this.partial = null;
    }
    let start = 0;
    for (;;) {
      const lf = data.indexOf(LF, start);
      if (lf < 0) break;
      let end = lf;
      if (end > start && data[end - 1] === CR) end--;
      if (end - start > this.limits.maxLineLength) throw new SmtpReplySyntaxError('reply line too long');
      this.line(data.toString('utf8', start, end));
      start = lf + 1;
    }
    if (start < data.length) {
      if (data.length - start > this.limits.maxLineLength) throw new SmtpReplySyntaxError('reply line too long');
      this.partial = data.subarray(start);
    }
  }

  private line(text: string): void {
    // Reply-line = Reply-code [ SP textstring ] CRLF, or Reply-code "-" [ textstring ] CRLF
    // for all but the last line (RFC 5321 §4.2). Reply codes start with 2-5 (§4.2.1).
    const c0 = text.charCodeAt(0);
    const c1 = text.charCodeAt(1);
    const c2 = text.charCodeAt(2);
    const sep = text.length > 3 ? text.charCodeAt(3) : 0x20;
    if (!(c0 >= 0x32 && c0 <= 0x35 && c1 >= 0x30 && c1 <= 0x39 && c2 >= 0x30 && c2 <= 0x39) || (sep !== 0x20 && sep !== 0x2d)) {
      throw new SmtpReplySyntaxError('malformed reply line');
    }
    this.lines.push(text.length > 4 ? text.slice(4) : '');
    if (sep === 0x2d) {
      if (this.lines.length >= this.limits.maxLines) throw new SmtpReplySyntaxError('too many lines in one reply');
      return;
    }
    // The code of the last line counts; RFC 5321 §4.2.1 wants the same code on every line,
    // and a server that varies it gets the benefit of the doubt.
    const code = (c0 - 0x30) * 100 + (c1 - 0x30) * 10 + (c2 - 0x30);
    const lines = this.lines;
    this.lines = [];
    this.onReply({ code, lines });
  }
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)/;

/** The RFC 3463 code at the start of the reply's first line, if it has one (RFC 2034 §4). */
export function replyEnhancedCode(reply: SmtpReply): string | null {
  const m = ENHANCED.exec(reply.lines[0] ?? '');
  if (!m) return null;
  // RFC 3463 §2: the class must agree with the reply code; when it does not, the reply
  // code wins and the subject/detail are kept (Postfix does the same).
  return `${Math.floor(reply.code / 100)}.${m[2]}.${m[3]}`;
}

/**
 * An enhanced code for a reply code alone: class.0.0 (RFC 3463 §3.1), except 421, which
 * means the server is not accepting mail now (4.3.2, what Postfix's smtpd says with it).
 */
export function deriveEnhancedCode(code: number): string {
  if (code === 421) return '4.3.2';
  const cls = Math.floor(code / 100);
  return cls === 2 || cls === 4 || cls === 5 ? `${cls}.0.0` : '4.5.0';
}

/** The enhanced code a reply carries, or one derived from its reply code. */
export function enhancedCodeOf(reply: SmtpReply): string {
  return replyEnhancedCode(reply) ?? deriveEnhancedCode(reply.code);
}

/** Longest reply text kept in an outcome (RFC 5321 §4.5.3.1.5 reply-line size). */
export const MAX_REPLY_TEXT = 512;

/** Control characters (C0, DEL, C1) never reach logs, DSNs or the database. */
const CONTROLS = /[\x00-\x1f\x7f-\x9f]+/g;

/** Makes untrusted text safe for one line: controls become a space, length is capped. */
export function oneLine(text: string, max = MAX_REPLY_TEXT): string {
  const clean = text.replace(CONTROLS, ' ');
  return clean.length > max ? clean.slice(0, max - 3) + '...' : clean;
}

/**
 * The reply on one line, "550 5.1.1 <x@y>: user unknown": lines joined by a space, the
 * enhanced code of continuation lines dropped when it repeats the first line's.
 */
export function formatReply(reply: SmtpReply): string {
  let text = String(reply.code);
  const first = ENHANCED.exec(reply.lines[0] ?? '');
  for (let i = 0; i < reply.lines.length; i++) {
    let line = reply.lines[i];
    if (i > 0 && first && line.startsWith(first[0])) line = line.slice(first[0].length).trimStart();
    if (line !== '') text += ' ' + line;
    if (text.length > MAX_REPLY_TEXT) break;
  }
  return oneLine(text);
}

/** The reply as it was on the wire, line by line, for a transcript. */
export function replyWireLines(reply: SmtpReply): string[] {
  const n = reply.lines.length;
  if (n === 0) return [String(reply.code)];
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = `${reply.code}${i < n - 1 ? '-' : ' '}${reply.lines[i]}`;
  return out;
}
