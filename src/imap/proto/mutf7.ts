/**
 * Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), used with IMAP4rev1 clients. IMAP4rev2
 * clients (and UTF8=ACCEPT, RFC 6855) use UTF-8 names, so the server calls these only for
 * rev1 sessions:
 *
 *   encodeMutf7('Entwürfe')  → 'Entw&APw-rfe'
 *   decodeMutf7('Entw&APw-rfe') → 'Entwürfe'   (throws ImapParseError on malformed input)
 *
 * Pure: no I/O.
 */
import { ImapParseError } from './parse-error.js';

// RFC 3501 §5.1.3: modified BASE64 uses "," instead of "/".
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Printable US-ASCII (0x20–0x7e) represents itself; "&" is the shift character. */
function isDirect(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Encodes a mailbox name. Lone surrogates are encoded as they are (decode rejects them). */
export function encodeMutf7(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c === 0x26) {
      out += '&-';
      i++;
    } else if (isDirect(c)) {
      out += name[i];
      i++;
    } else {
      let j = i;
      while (j < name.length && !isDirect(name.charCodeAt(j))) j++;
      out += `&${encodeUtf16Run(name.slice(i, j))}-`;
      i = j;
    }
  }
  return out;
}

function encodeUtf16Run(run: string): string {
  let out = '';
  let bits = 0;
  let nbits = 0;
  for (let i = 0; i < run.length; i++) {
    bits = (bits << 16) | run.charCodeAt(i);
    nbits += 16;
    while (nbits >= 6) {
      nbits -= 6;
      out += ALPHABET[(bits >> nbits) & 0x3f];
    }
    bits &= (1 << nbits) - 1;
  }
  if (nbits > 0) out += ALPHABET[(bits << (6 - nbits)) & 0x3f];
  return out;
}

function fail(message: string, offset: number): never {
  throw new ImapParseError(`mailbox name is not valid modified UTF-7: ${message}`, { offset });
}

/**
 * Decodes a mailbox name, rejecting everything RFC 3501 §5.1.3 rules out: 8-bit or control
 * characters, an unterminated or empty shift, bits left over, printable ASCII encoded in
 * BASE64, two adjacent BASE64 sections (a null shift "-&"), and unpaired surrogates.
 */
export function decodeMutf7(encoded: string): string {
  let out = '';
  let i = 0;
  let lastShiftEnd = -1;
  while (i < encoded.length) {
    const c = encoded.charCodeAt(i);
    if (!isDirect(c)) fail('8-bit or control character', i);
    if (c !== 0x26) {
      out += encoded[i];
      i++;
      continue;
    }
    const end = encoded.indexOf('-', i + 1);
    if (end === -1) fail('"&" without a closing "-"', i);
    if (end === i + 1) {
      out += '&';
      i = end + 1;
      continue;
    }
    if (lastShiftEnd === i) fail('adjacent BASE64 sections', i);
    out += decodeUtf16Run(encoded, i + 1, end);
    i = end + 1;
    lastShiftEnd = i;
  }
  return out;
}

function decodeUtf16Run(s: string, start: number, end: number): string {
  let bits = 0;
  let nbits = 0;
  const units: number[] = [];
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? DECODE[c] : -1;
    if (v === -1) fail('invalid BASE64 character', i);
    bits = ((bits << 6) | v) & 0xffffff;
    nbits += 6;
    if (nbits >= 16) {
      nbits -= 16;
      units.push((bits >> nbits) & 0xffff);
    }
  }
  // Padding bits must be fewer than 6 (else a whole character is wasted) and zero.
  if (nbits >= 6 || (bits & ((1 << nbits) - 1)) !== 0) fail('leftover bits in BASE64 section', end);
  let out = '';
  for (let k = 0; k < units.length; k++) {
    const u = units[k];
    if (isDirect(u)) fail('printable ASCII encoded in BASE64', start);
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = units[k + 1];
      if (next === undefined || next < 0xdc00 || next > 0xdfff) fail('unpaired surrogate', start);
      out += String.fromCharCode(u, next);
      k++;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      fail('unpaired surrogate', start);
    } else {
      out += String.fromCharCode(u);
    }
  }
  return out;
}

/** True if `s` decodes without error. */
export function isValidMutf7(s: string): boolean {
  try {
    decodeMutf7(s);
    return true;
  } catch {
    return false;
  }
}
