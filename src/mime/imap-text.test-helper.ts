/**
 * Test helper: ImapSexp ↔ IMAP wire text, only for comparing FETCH values in tests (the real
 * formatter lives in src/imap/proto/; this must not depend on it).
 *
 *   writeImapSexp(value): string   NIL, numbers, quoted strings ("\" and "\\" escaped), literals
 *                                  {n}\r\n... (n in UTF-8 octets) for strings with CR, LF, NUL
 *                                  or non-ASCII, lists with single spaces
 *   readImapSexp(text): ImapSexp   the reverse, for IMAP text from a real server (atoms other
 *                                  than NIL and numbers are read as strings)
 */
import type { ImapSexp } from './types.js';

export function writeImapSexp(v: ImapSexp): string {
  if (v === null) return 'NIL';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    if (/[\r\n\0]|[^\x00-\x7f]/.test(v)) return `{${Buffer.byteLength(v, 'utf8')}}\r\n${v}`;
    return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  }
  return `(${v.map(writeImapSexp).join(' ')})`;
}

/** Parse one IMAP value. Literal lengths count UTF-8 octets. */
export function readImapSexp(text: string): ImapSexp {
  const bytes = Buffer.from(text, 'utf8');
  let i = 0;
  const skipSpaces = () => {
    while (bytes[i] === 0x20) i++;
  };
  const value = (): ImapSexp => {
    skipSpaces();
    const c = bytes[i];
    if (c === 0x28) {
      i++;
      const out: ImapSexp[] = [];
      for (;;) {
        skipSpaces();
        if (i >= bytes.length) throw new Error('unterminated list');
        if (bytes[i] === 0x29) {
          i++;
          return out;
        }
        out.push(value());
      }
    }
    if (c === 0x22) {
      i++;
      const parts: number[] = [];
      while (i < bytes.length && bytes[i] !== 0x22) {
        if (bytes[i] === 0x5c) i++;
        parts.push(bytes[i++]);
      }
      i++;
      return Buffer.from(parts).toString('utf8');
    }
    if (c === 0x7b) {
      const close = bytes.indexOf(0x7d, i);
      const n = Number(bytes.toString('latin1', i + 1, close));
      i = close + 3; // "}\r\n"
      const s = bytes.toString('utf8', i, i + n);
      i += n;
      return s;
    }
    const start = i;
    while (i < bytes.length && bytes[i] !== 0x20 && bytes[i] !== 0x28 && bytes[i] !== 0x29) i++;
    const atom = bytes.toString('latin1', start, i);
    if (atom.toUpperCase() === 'NIL') return null;
    if (/^[0-9]+$/.test(atom)) return Number(atom);
    return atom;
  };
  const v = value();
  skipSpaces();
  if (i !== bytes.length) throw new Error(`trailing text at ${i}`);
  return v;
}
