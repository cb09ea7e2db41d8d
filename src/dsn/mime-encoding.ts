/**
 * The few MIME encodings a DSN needs, on Node built-ins only: quoted-printable bodies
 * (RFC 2045 §6.7) and RFC 2047 encoded-words in headers.
 */
import { wellFormed } from './sanitize.js';

const HEX = '0123456789ABCDEF';

function hexByte(b: number): string {
  return '=' + HEX[b >> 4] + HEX[b & 15];
}

/**
 * Encode text as quoted-printable (RFC 2045 §6.7). Line breaks (CRLF, CR or LF) become CRLF
 * hard breaks; every output line is at most 76 characters (soft breaks "=" where needed) and
 * 7-bit. Encoded: "=", controls, non-ASCII octets, and white space at the end of a line (rule 3).
 */
export function encodeQuotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of wellFormed(text).split(/\r\n|\r|\n/)) {
    const bytes = Buffer.from(line, 'utf8');
    let cur = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      const last = i === bytes.length - 1;
      const literal = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
      const token = literal ? String.fromCharCode(b) : hexByte(b);
      // Rule 5: at most 76 characters per line, the soft-break "=" included.
      if (cur.length + token.length > (last ? 76 : 75)) {
        out.push(cur + '=');
        cur = '';
      }
      cur += token;
    }
    out.push(cur);
  }
  return out.join('\r\n');
}

/**
 * Decode quoted-printable (RFC 2045 §6.7); lenient about malformed "=" sequences. A string is
 * read one octet per character (latin1), as the parser holds message text; pass a Buffer for
 * text that was decoded as UTF-8.
 */
export function decodeQuotedPrintable(input: string | Buffer): Buffer {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const out = Buffer.alloc(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x3d) {
      out[n++] = b;
      continue;
    }
    // A soft line break: "=", optional transport padding, then the line break.
    let j = i + 1;
    while (j < bytes.length && (bytes[j] === 0x20 || bytes[j] === 0x09)) j++;
    if (bytes[j] === 0x0a || (bytes[j] === 0x0d && bytes[j + 1] === 0x0a)) {
      i = bytes[j] === 0x0d ? j + 1 : j;
      continue;
    }
    const hi = hexValue(bytes[i + 1]);
    const lo = hexValue(bytes[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else {
      out[n++] = b; // not an escape: keep the "=" as it is
    }
  }
  return out.subarray(0, n);
}

function hexValue(b: number | undefined): number {
  if (b === undefined) return -1;
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

// RFC 2047 §5 (3): characters that may stand for themselves in a "Q" encoded-word anywhere.
const Q_SAFE = /^[A-Za-z0-9!*+\-/]$/;
// RFC 2047 §2: an encoded-word is at most 75 characters.
const MAX_WORD = 75;

/**
 * Encode header text as RFC 2047 "Q" encoded-words (UTF-8), split so that each word is at
 * most `maxWord` characters (§2: 75 at most) and no character is split between words (§5).
 * Returns the words joined by single spaces, ready for foldHeaderLine. Pure printable ASCII
 * is returned unchanged.
 *
 * RFC 2047 §2 also limits a header line with encoded-words to 76 characters: pass
 * `76 - "Subject: ".length` and fold at 76 to keep the first line within it. Values below 24
 * are raised to 24, the room one 4-octet character needs.
 */
export function encodeHeaderWords(text: string, maxWord = MAX_WORD): string {
  const s = wellFormed(text);
  if (/^[\x20-\x7e]*$/.test(s) && !/=\?/.test(s)) return s;
  const prefix = '=?UTF-8?Q?';
  const room = Math.max(12, Math.min(maxWord, MAX_WORD) - prefix.length - 2);
  const words: string[] = [];
  let cur = '';
  for (const ch of s) {
    let enc: string;
    if (ch === ' ') enc = '_';
    else if (Q_SAFE.test(ch)) enc = ch;
    else enc = [...Buffer.from(ch, 'utf8')].map(hexByte).join('');
    if (cur.length + enc.length > room) {
      words.push(prefix + cur + '?=');
      cur = '';
    }
    cur += enc;
  }
  if (cur || words.length === 0) words.push(prefix + cur + '?=');
  return words.join(' ');
}

const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=/g;

/**
 * Decode RFC 2047 encoded-words in an unfolded header value. White space between two adjacent
 * encoded-words is dropped (§6.2). A word in an unknown charset or with bad encoding is left
 * as it is; this never throws.
 */
export function decodeEncodedWords(value: string): string {
  let out = '';
  let last = 0;
  let prevWasWord = false;
  for (const m of value.matchAll(ENCODED_WORD)) {
    const start = m.index ?? 0;
    const between = value.slice(last, start);
    const decoded = decodeWord(m[1], m[2], m[3]);
    if (!(prevWasWord && decoded !== null && /^[ \t]*$/.test(between))) out += between;
    out += decoded ?? m[0];
    prevWasWord = decoded !== null;
    last = start + m[0].length;
  }
  return out + value.slice(last);
}

function decodeWord(charset: string, encoding: string, text: string): string | null {
  let bytes: Buffer;
  if (encoding === 'B' || encoding === 'b') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
    bytes = Buffer.from(text, 'base64');
  } else {
    bytes = decodeQuotedPrintable(Buffer.from(text.replace(/_/g, ' '), 'utf8'));
  }
  try {
    return new TextDecoder(charset.toLowerCase()).decode(bytes);
  } catch {
    return null; // a charset TextDecoder does not know
  }
}
