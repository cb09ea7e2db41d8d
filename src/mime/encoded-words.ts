/**
 * RFC 2047 encoded words in header text: `=?charset[*lang]?B|Q?text?=`.
 *
 *   decodeEncodedWords(text): string   never throws
 *
 * `text` is header text already turned into a string (charset.ts rawHeaderText). Decoding is
 * lenient the way mail readers are: words are found anywhere, not only where RFC 2047 §5
 * allows them (inside quoted strings, glued to other text), because real mail puts them there.
 * Whitespace between two adjacent encoded words is dropped (§6.2), and adjacent words in the
 * same charset are joined before charset decoding, so a multi-byte character split across two
 * words still decodes (mailers do split them, though §5 forbids it).
 */
import { decodeCharset } from './charset.js';
import { decodeBase64 } from './transfer-decoding.js';

// charset: token chars; the optional "*lang" is RFC 2231 §5. Q text may not contain "?" (§2).
const WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*?)\?=/g;

function decodeQ(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) {
      out[o++] = 0x20; // "_" is always 0x20 (§4.2 (2))
    } else if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out[o++] = parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      out[o++] = c & 0xff;
    }
  }
  return out.subarray(0, o);
}

/** Decode every encoded word in `text`. */
export function decodeEncodedWords(text: string): string {
  if (!text.includes('=?')) return text;
  let out = '';
  let last = 0;
  // pending run of adjacent words in one charset
  let runCharset: string | null = null;
  let runBytes: Buffer[] = [];
  const flush = () => {
    if (runCharset !== null) out += decodeCharset(Buffer.concat(runBytes), runCharset);
    runCharset = null;
    runBytes = [];
  };
  WORD.lastIndex = 0;
  for (let m = WORD.exec(text); m !== null; m = WORD.exec(text)) {
    const between = text.slice(last, m.index);
    const adjacent = last > 0 && runCharset !== null && /^[ \t\r\n]*$/.test(between);
    const charset = m[1].toLowerCase();
    const bytes = m[2] === 'b' || m[2] === 'B' ? decodeBase64(Buffer.from(m[3], 'latin1')) : decodeQ(m[3]);
    if (adjacent && charset === runCharset) {
      runBytes.push(bytes);
    } else {
      flush();
      if (!adjacent) out += between; // whitespace between encoded words is dropped (§6.2)
      runCharset = charset;
      runBytes = [bytes];
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + text.slice(last);
}
