/**
 * What a DSN takes from the original message: its Subject (for the human text) and the
 * returned content (RFC 3461 §4.3 RET=FULL / RET=HDRS, RFC 3464 §2 third part).
 */
import { decodeEncodedWords } from './mime-encoding.js';
import { safeText } from './sanitize.js';

const CRLF = Buffer.from('\r\n');
// RFC 5322 §2.1.1: at most 998 octets per line, CRLF excluded.
const MAX_LINE = 998;

/**
 * The header section of a message: everything before the first empty line (RFC 5322 §2.1),
 * each line with its line break. A message without an empty line is all header.
 */
export function headerSection(message: Buffer): Buffer {
  if (message.length >= 2 && message[0] === 0x0d && message[1] === 0x0a) return Buffer.alloc(0);
  if (message.length >= 1 && message[0] === 0x0a) return Buffer.alloc(0);
  const crlf = message.indexOf('\r\n\r\n');
  const lf = message.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return message.subarray(0, crlf + 2);
  if (lf >= 0) return message.subarray(0, lf + 1);
  return message;
}

/** Longest Subject we quote in the notice. */
const MAX_SUBJECT = 200;

/**
 * The original Subject for the human text, or null when there is none: the first Subject
 * field, unfolded, RFC 2047 words decoded, raw 8-bit read as UTF-8 (RFC 6532), and made
 * one safe line.
 */
export function originalSubject(message: Buffer): string | null {
  const header = headerSection(message).toString('utf8');
  const lines = header.split(/\r\n|\n/);
  for (let i = 0; i < lines.length; i++) {
    const m = /^subject[ \t]*:(.*)$/i.exec(lines[i]);
    if (!m) continue;
    let value = m[1];
    // RFC 5322 §2.2.3 unfolding: continuation lines start with white space.
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1])) value += lines[++i];
    // Bound the work: a Subject of megabytes is cut before decoding.
    const text = safeText(decodeEncodedWords(value.slice(0, 4096)), { max: MAX_SUBJECT });
    return text.length > 0 ? text : null;
  }
  return null;
}

export interface ReturnedContent {
  type: 'message/rfc822' | 'text/rfc822-headers';
  /** Content-Transfer-Encoding: message/rfc822 allows only 7bit, 8bit or binary (RFC 2046 §5.2.1). */
  encoding: '7bit' | '8bit';
  /** CRLF line ends; every line at most 998 octets; no NUL. */
  content: Buffer;
}

/**
 * The third part of the notice. RET=FULL returns the whole message as message/rfc822,
 * RET=HDRS its header section as text/rfc822-headers (RFC 6522 §4 / RFC 3462).
 *
 * The SMTP server already refuses bare CR or LF, NUL and over-long lines, so this normally
 * passes the message through byte for byte. If a message got in some other way, it is made
 * fit to send: line ends become CRLF and NULs are dropped; if a body line is still longer
 * than 998 octets (message/rfc822 may not be re-encoded, RFC 2046 §5.2.1), only the headers
 * are returned; an over-long header line is cut.
 */
export function returnedContent(original: Buffer, ret: 'FULL' | 'HDRS'): ReturnedContent {
  let returned: { buf: Buffer; tooLong: boolean; eightBit: boolean } | null = null;
  let type: ReturnedContent['type'] = 'text/rfc822-headers';
  if (ret === 'FULL') {
    const whole = canonicalLines(original);
    if (!whole.tooLong) {
      type = 'message/rfc822';
      returned = whole;
    }
  }
  if (returned === null) {
    const header = canonicalLines(headerSection(original));
    returned = header.tooLong ? canonicalLines(cutLongLines(header.buf)) : header;
  }
  return { type, encoding: returned.eightBit ? '8bit' : '7bit', content: returned.buf };
}

/**
 * CRLF line ends and no NUL, in one pass over the octets; reports whether a line is longer
 * than 998 octets and whether any octet is 8-bit.
 */
function canonicalLines(buf: Buffer): { buf: Buffer; tooLong: boolean; eightBit: boolean } {
  let clean = true;
  let tooLong = false;
  let eightBit = false;
  let lineStart = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b >= 0x80) eightBit = true;
    else if (b === 0x00) clean = false;
    else if (b === 0x0d) {
      if (buf[i + 1] !== 0x0a) clean = false;
    } else if (b === 0x0a) {
      if (i === 0 || buf[i - 1] !== 0x0d) clean = false;
      const len = i - lineStart - (i > 0 && buf[i - 1] === 0x0d ? 1 : 0);
      if (len > MAX_LINE) tooLong = true;
      lineStart = i + 1;
    }
  }
  if (buf.length - lineStart > MAX_LINE) tooLong = true;
  if (clean) return { buf, tooLong, eightBit };
  const text = buf.toString('latin1').replace(/\x00/g, '').replace(/\r\n|\r|\n/g, '\r\n');
  return { buf: Buffer.from(text, 'latin1'), tooLong: text.split('\r\n').some((l) => l.length > MAX_LINE), eightBit };
}

/** Cut every line to 998 octets (only ever needed for header lines that bypassed the SMTP limits). */
function cutLongLines(buf: Buffer): Buffer {
  const lines = buf
    .toString('latin1')
    .split('\r\n')
    .map((l) => l.slice(0, MAX_LINE));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** `buf`, ending with CRLF (an empty buffer stays empty). */
export function endWithCrlf(buf: Buffer): Buffer {
  if (buf.length === 0 || (buf.length >= 2 && buf[buf.length - 2] === 0x0d && buf[buf.length - 1] === 0x0a)) {
    return buf;
  }
  return Buffer.concat([buf, CRLF]);
}
