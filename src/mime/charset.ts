/**
 * Charset decoding for MIME text (RFC 2046 §4.1.2 charset parameter, RFC 2047 encoded words,
 * RFC 2231 parameter values): iconv-lite for the registered charsets, a small ISO-2022-JP
 * decoder (RFC 1468; iconv-lite has none), and forgiving fallbacks, because search must never
 * fail on a bad label.
 *
 *   decodeCharset(bytes, label): string   never throws; unknown labels fall back (see below)
 *   rawHeaderText(bytes): string          8-bit header bytes: UTF-8 when valid, else ISO-8859-1
 *   latin1ToText(s): string               the same for a string that holds bytes as U+0000..U+00FF
 */
import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';

const HIGH_BYTE = /[\x80-\xff]/;

/** True if no byte is 8-bit. */
function isAscii(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80) return false;
  return true;
}

/**
 * Header bytes as text. RFC 6532 §3.2 makes raw 8-bit header text UTF-8; older mail sends
 * Latin-1 bytes, which we map one byte to one code point so nothing is lost.
 */
export function rawHeaderText(bytes: Buffer): string {
  if (isAscii(bytes)) return bytes.toString('latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1');
}

/** rawHeaderText for a "byte string" (each char U+0000..U+00FF is one byte). */
export function latin1ToText(s: string): string {
  if (!HIGH_BYTE.test(s)) return s;
  return rawHeaderText(Buffer.from(s, 'latin1'));
}

type Decoder = (bytes: Buffer) => string;

const cache = new Map<string, Decoder>();

/** iconv-lite's encodingExists, without its type narrowing. */
function known(name: string): boolean {
  return iconv.encodingExists(name);
}

/** us-ascii and iso-8859-1 labels: bytes that are not ASCII are most likely UTF-8 or windows-1252. */
function decodeAsciiFamily(bytes: Buffer): string {
  if (isAscii(bytes)) return bytes.toString('latin1');
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return iconv.decode(bytes, 'windows-1252');
}

/** Unknown or missing label: UTF-8 if it is valid, else windows-1252 (the WHATWG default for Latin). */
function decodeUnknown(bytes: Buffer): string {
  if (isAscii(bytes)) return bytes.toString('latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : iconv.decode(bytes, 'windows-1252');
}

function decodeUtf8(bytes: Buffer): string {
  return bytes.toString('utf8');
}

function normalizeLabel(label: string): string {
  return label
    .trim()
    .replace(/^["']|["']$/g, '')
    .trim()
    .toLowerCase();
}

function decoderFor(label: string): Decoder {
  const key = normalizeLabel(label);
  let d = cache.get(key);
  if (d !== undefined) return d;
  if (key === 'utf-8' || key === 'utf8') d = decodeUtf8;
  else if (
    key === '' ||
    key === 'us-ascii' ||
    key === 'ascii' ||
    key === 'ansi_x3.4-1968' ||
    key === 'iso-8859-1' ||
    key === 'iso8859-1' ||
    key === 'iso_8859-1' ||
    key === 'latin1' ||
    key === 'latin-1'
  )
    d = key === '' ? decodeUnknown : decodeAsciiFamily;
  else if (/^(cs)?iso-?2022-?jp(-[0-9])?$/.test(key)) d = decodeIso2022Jp;
  else if (known(key)) d = (bytes) => iconv.decode(bytes, key);
  else if (key.startsWith('x-') && known(key.slice(2))) {
    const k = key.slice(2);
    d = (bytes) => iconv.decode(bytes, k);
  } else d = decodeUnknown;
  if (cache.size < 256) cache.set(key, d); // labels come from mail: keep the cache bounded
  return d;
}

/** Decode `bytes` in charset `label` to a JS string. Never throws. */
export function decodeCharset(bytes: Buffer, label: string | null | undefined): string {
  if (bytes.length === 0) return '';
  try {
    return decoderFor(label ?? '')(bytes);
  } catch {
    return decodeUnknown(bytes);
  }
}

const ESC = 0x1b;

/**
 * ISO-2022-JP (RFC 1468), with the -1/-2 extras that map onto EUC-JP: the 7-bit JIS X 0208 /
 * 0212 / katakana shifts are rewritten to EUC-JP bytes and decoded by iconv-lite.
 */
function decodeIso2022Jp(bytes: Buffer): string {
  const out = Buffer.allocUnsafe(bytes.length * 2 + 2);
  let o = 0;
  // 0 ASCII/JIS-Roman, 1 JIS X 0208, 2 half-width katakana, 3 JIS X 0212
  let mode = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === ESC) {
      const b1 = bytes[i + 1];
      const b2 = bytes[i + 2];
      if (b1 === 0x28 && (b2 === 0x42 || b2 === 0x4a)) mode = 0; // ESC ( B, ESC ( J
      else if (b1 === 0x28 && b2 === 0x49) mode = 2; // ESC ( I
      else if (b1 === 0x24 && (b2 === 0x40 || b2 === 0x42)) mode = 1; // ESC $ @, ESC $ B
      else if (b1 === 0x24 && b2 === 0x28 && bytes[i + 3] === 0x44) {
        mode = 3; // ESC $ ( D
        i++;
      } else if (b1 === 0x24 && b2 === 0x28 && bytes[i + 3] === 0x42) {
        mode = 1; // ESC $ ( B
        i++;
      } else continue; // unknown escape: drop the ESC
      i += 2;
      continue;
    }
    if (b < 0x21 || b > 0x7e || mode === 0) {
      out[o++] = b; // controls and line ends pass through in every mode
      continue;
    }
    if (mode === 2) {
      out[o++] = 0x8e;
      out[o++] = b | 0x80;
    } else {
      const c = bytes[i + 1];
      if (c === undefined || c < 0x21 || c > 0x7e) {
        out[o++] = b;
        continue;
      }
      if (mode === 3) out[o++] = 0x8f;
      out[o++] = b | 0x80;
      out[o++] = c | 0x80;
      i++;
    }
  }
  return iconv.decode(out.subarray(0, o), 'euc-jp');
}
