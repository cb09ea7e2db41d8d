/**
 * Content-Transfer-Encoding decoding (RFC 2045 §6): base64 and quoted-printable, both
 * forgiving, for FETCH BINARY (RFC 3516) and for search text.
 *
 *   decodeTransferEncoding(bytes, encoding): Buffer   throws UnknownTransferEncodingError
 *   decodeBase64(bytes): Buffer                        never throws
 *   decodeQuotedPrintable(bytes): Buffer               never throws
 *   isIdentityEncoding(encoding): boolean              7bit, 8bit, binary (or none)
 *
 * Broken input is decoded as far as it makes sense (Dovecot answers NO [PARSE] instead):
 * RFC 2045 §6.8 says characters outside the base64 alphabet are ignored, and §6.7 note (2)
 * suggests leaving a malformed "=" sequence in quoted-printable as it is.
 */

/** An encoding we cannot decode; the IMAP server answers NO [UNKNOWN-CTE] (RFC 3516 §4.3). */
export class UnknownTransferEncodingError extends Error {
  constructor(readonly encoding: string) {
    super(`unknown Content-Transfer-Encoding ${JSON.stringify(encoding)}`);
    this.name = 'UnknownTransferEncodingError';
  }
}

/** RFC 2045 §6.2: these mean "no encoding was applied". */
export function isIdentityEncoding(encoding: string): boolean {
  const e = encoding.toLowerCase();
  return e === '' || e === '7bit' || e === '8bit' || e === 'binary';
}

/** Decode a body with the given (lowercase or not) Content-Transfer-Encoding. */
export function decodeTransferEncoding(bytes: Buffer, encoding: string): Buffer {
  const e = encoding.toLowerCase();
  if (isIdentityEncoding(e)) return bytes;
  if (e === 'base64') return decodeBase64(bytes);
  if (e === 'quoted-printable') return decodeQuotedPrintable(bytes);
  throw new UnknownTransferEncodingError(encoding);
}

// The usual shape: base64 lines, optional "=" padding only at the very end.
const CLEAN_BASE64 = /^[A-Za-z0-9+/\r\n\t ]*(?:={1,2}[\r\n\t ]*)?$/;

const B64 = new Int8Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => {
  B64[c.charCodeAt(0)] = i;
});

/**
 * Base64 (RFC 2045 §6.8). Clean input goes through Node's decoder; anything else through a
 * quantum-by-quantum decoder that skips foreign characters and restarts after "=" padding
 * (so concatenated, separately padded chunks still decode).
 */
export function decodeBase64(bytes: Buffer): Buffer {
  const s = bytes.toString('latin1');
  if (CLEAN_BASE64.test(s)) return Buffer.from(s, 'base64');
  const out = Buffer.allocUnsafe(Math.ceil((bytes.length * 3) / 4) + 3);
  let o = 0;
  let acc = 0;
  let n = 0; // sextets in the current quantum
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x3d) {
      // "=": the quantum ends; emit what it holds
      if (n === 2) out[o++] = (acc >> 4) & 0xff;
      else if (n === 3) {
        out[o++] = (acc >> 10) & 0xff;
        out[o++] = (acc >> 2) & 0xff;
      }
      acc = 0;
      n = 0;
      continue;
    }
    const v = B64[c];
    if (v < 0) continue;
    acc = (acc << 6) | v;
    if (++n === 4) {
      out[o++] = (acc >> 16) & 0xff;
      out[o++] = (acc >> 8) & 0xff;
      out[o++] = acc & 0xff;
      acc = 0;
      n = 0;
    }
  }
  if (n === 2) out[o++] = (acc >> 4) & 0xff;
  else if (n === 3) {
    out[o++] = (acc >> 10) & 0xff;
    out[o++] = (acc >> 2) & 0xff;
  }
  return Buffer.from(out.subarray(0, o));
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57; // lowercase: RFC 2045 §6.7 (1) lets decoders accept it
  return -1;
}

/**
 * Quoted-printable (RFC 2045 §6.7): "=XX" is a byte, "=" at the end of a line is a soft line
 * break, trailing whitespace on a line is deleted (rule 3), line breaks are kept as they are.
 */
export function decodeQuotedPrintable(bytes: Buffer): Buffer {
  const n = bytes.length;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  let wsStart = -1; // output position where trailing whitespace began
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === 0x3d) {
      const h = hexValue(bytes[i + 1] ?? -1);
      const l = h < 0 ? -1 : hexValue(bytes[i + 2] ?? -1);
      if (h >= 0 && l >= 0) {
        out[o++] = (h << 4) | l;
        wsStart = -1;
        i += 2;
        continue;
      }
      // soft line break: "=" [WSP...] [CR] LF, or "=" at the very end
      let j = i + 1;
      while (j < n && (bytes[j] === 0x20 || bytes[j] === 0x09)) j++;
      if (j >= n || bytes[j] === 0x0a || (bytes[j] === 0x0d && bytes[j + 1] === 0x0a)) {
        wsStart = -1; // whitespace before "=" was encoded on purpose: keep it
        if (j >= n) break;
        i = bytes[j] === 0x0d ? j + 1 : j;
        continue;
      }
      out[o++] = c; // not an escape: keep the "=" (§6.7 note 2)
      wsStart = -1;
      continue;
    }
    if (c === 0x20 || c === 0x09) {
      if (wsStart < 0) wsStart = o;
      out[o++] = c;
      continue;
    }
    if (c === 0x0d || c === 0x0a) {
      if (wsStart >= 0) o = wsStart; // rule 3: trailing whitespace was added in transport
    }
    wsStart = -1;
    out[o++] = c;
  }
  if (wsStart >= 0) o = wsStart;
  return Buffer.from(out.subarray(0, o));
}
