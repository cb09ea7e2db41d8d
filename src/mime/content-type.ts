/**
 * MIME header values: Content-Type (RFC 2045 §5.1), Content-Disposition (RFC 2183),
 * Content-Transfer-Encoding (RFC 2045 §6.1), Content-Language (RFC 3282), and parameters
 * with RFC 2231 continuations and charsets.
 *
 *   parseContentType(value): { type, subtype, params } | null      null: syntactically invalid
 *   parseContentDisposition(value): { type, params } | null
 *   parseMimeToken(value): string | null                            CTE
 *   parseLanguageList(value): string[] | null
 *   parseParameters(value, pos): MimeParams
 *
 * Input values are "byte strings" (one char per header byte, U+0000..U+00FF), so boundaries
 * compare byte-exactly; the strings returned are the same kind, except MimeParams.decoded.
 * Comments and folding whitespace are allowed wherever RFC 2045 §5.1 / RFC 822 allow CFWS.
 *
 * Two views of the parameters:
 * - `list` is what BODYSTRUCTURE shows, the way Dovecot shows it: plain parameters in order,
 *   then RFC 2231 ones sorted by name, continuations merged into one `name` (or `name*` when
 *   any section was extended) with the `charset'lang'%XX` value left encoded. Sections with a
 *   gap are listed as they came (`name*0`, `name*2`), since they cannot be merged.
 * - `decoded` has lowercase names and text values: RFC 2231 sections joined (up to the first
 *   gap) and decoded from their charset; for name and filename also RFC 2047 encoded words,
 *   which RFC 2047 §5 forbids there but mailers send. The first of duplicate names wins, and
 *   an RFC 2231 value wins over a plain one of the same name.
 */
import { decodeCharset, latin1ToText } from './charset.js';
import { decodeEncodedWords } from './encoded-words.js';

export interface MimeParams {
  list: Array<[string, string]>;
  decoded: Record<string, string>;
}

// RFC 2045 §5.1 tspecials, plus SPACE and CTLs: not allowed in a token.
const NOT_TOKEN = new Uint8Array(256);
for (let c = 0; c <= 0x20; c++) NOT_TOKEN[c] = 1;
NOT_TOKEN[0x7f] = 1;
for (const ch of '()<>@,;:\\"/[]?=') NOT_TOKEN[ch.charCodeAt(0)] = 1;

/** Skip whitespace, line breaks and (nested) comments. */
function skipCfws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) {
      i++;
    } else if (c === 0x28) {
      let depth = 0;
      for (; i < s.length; i++) {
        const d = s.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x28) depth++;
        else if (d === 0x29 && --depth === 0) {
          i++;
          break;
        }
      }
    } else {
      break;
    }
  }
  return i;
}

function readToken(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 256 && NOT_TOKEN[c] === 1) break;
    i++;
  }
  return i;
}

/** A quoted-string starting at s[i] === '"'; unterminated strings run to the end. */
function readQuoted(s: string, i: number): [string, number] {
  let out = '';
  i++;
  while (i < s.length) {
    const c = s[i];
    if (c === '"') return [out, i + 1];
    if (c === '\\' && i + 1 < s.length) {
      out += s[i + 1];
      i += 2;
      continue;
    }
    if (c !== '\r' && c !== '\n') out += c; // quoted folding: drop the line break
    i++;
  }
  return [out, i];
}

/** One parameter value: a quoted-string, or (leniently) a run up to ";", whitespace or a comment. */
function readValue(s: string, i: number): [string, number] {
  if (s[i] === '"') return readQuoted(s, i);
  const start = i;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    // tspecials such as "=", "/" and "?" are accepted: unquoted boundary=----=_Part_1 is common
    if (c === 0x3b || c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a || c === 0x28 || c === 0x22) break;
    i++;
  }
  return [s.slice(start, i), i];
}

interface Rfc2231Section {
  name: string;
  index: number;
  extended: boolean;
  value: string;
}

/** Parameters after the type (or disposition): `*(";" attribute "=" value)`. */
export function parseParameters(s: string, pos: number): MimeParams {
  const plain: Array<[string, string]> = [];
  const sections: Rfc2231Section[] = [];
  let i = pos;
  while (i < s.length) {
    i = skipCfws(s, i);
    if (i >= s.length) break;
    if (s[i] !== ';') {
      // garbage between parameters: resynchronize at the next ";"
      const next = s.indexOf(';', i);
      if (next < 0) break;
      i = next;
    }
    i = skipCfws(s, i + 1);
    const nameEnd = readToken(s, i);
    if (nameEnd === i) continue;
    const name = s.slice(i, nameEnd);
    i = skipCfws(s, nameEnd);
    if (s[i] !== '=') continue; // attribute without a value: ignored
    i = skipCfws(s, i + 1);
    const [value, next] = readValue(s, i);
    i = next;
    // RFC 2231 §3, §4: name*, name*N, name*N*
    const m = /^(.*?)\*(?:([0-9]+)(\*)?|)$/.exec(name);
    if (m !== null && m[1] !== '') {
      const extended = m[2] === undefined || m[3] === '*';
      sections.push({ name: m[1], index: m[2] === undefined ? 0 : parseInt(m[2], 10), extended, value });
    } else {
      plain.push([name, value]);
    }
  }
  return mergeParameters(plain, sections);
}

function percentDecode(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out[o++] = parseInt(s.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      out[o++] = c & 0xff;
    }
  }
  return out.subarray(0, o);
}

function mergeParameters(plain: Array<[string, string]>, sections: Rfc2231Section[]): MimeParams {
  const list: Array<[string, string]> = plain.slice();
  const decoded: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [name, value] of plain) {
    const key = name.toLowerCase();
    if (key in decoded) continue;
    const text = latin1ToText(value);
    decoded[key] = key === 'name' || key === 'filename' ? decodeEncodedWords(text) : text;
  }
  if (sections.length === 0) return { list, decoded };

  // Sorted by name (case-sensitive, as Dovecot does) and index; grouped case-insensitively.
  const sorted = sections
    .map((s, order) => ({ s, order }))
    .sort((a, b) => (a.s.name < b.s.name ? -1 : a.s.name > b.s.name ? 1 : a.s.index - b.s.index || a.order - b.order))
    .map((x) => x.s);
  for (let i = 0; i < sorted.length; ) {
    const key = sorted[i].name.toLowerCase();
    let j = i;
    while (j < sorted.length && sorted[j].name.toLowerCase() === key) j++;
    const group = sorted.slice(i, j);
    i = j;
    const contiguous = group.every((g, k) => g.index === k);
    const anyExtended = group.some((g) => g.extended);
    if (contiguous) {
      // RFC 2231 §4.1: only the first section carries charset'language'
      let merged = !group[0].extended && anyExtended ? "''" : '';
      for (const g of group) merged += !g.extended && anyExtended ? g.value.replace(/%/g, '%25') : g.value;
      list.push([anyExtended ? `${group[0].name}*` : group[0].name, merged]);
    } else {
      for (const g of group) list.push([`${g.name}*${g.index}${g.extended ? '*' : ''}`, g.value]);
    }
    // decoded: the sections from 0 up to the first gap
    let upTo = 0;
    while (upTo < group.length && group[upTo].index === upTo) upTo++;
    if (upTo === 0) continue;
    let charset: string | null = null;
    const parts: Buffer[] = [];
    for (let k = 0; k < upTo; k++) {
      const g = group[k];
      let v = g.value;
      if (g.extended) {
        if (k === 0) {
          const q1 = v.indexOf("'");
          const q2 = q1 < 0 ? -1 : v.indexOf("'", q1 + 1);
          if (q2 >= 0) {
            charset = v.slice(0, q1);
            v = v.slice(q2 + 1);
          }
        }
        parts.push(percentDecode(v));
      } else {
        parts.push(Buffer.from(v, 'latin1'));
      }
    }
    const bytes = Buffer.concat(parts);
    decoded[key] = charset !== null && charset !== '' ? decodeCharset(bytes, charset) : latin1ToText(bytes.toString('latin1'));
  }
  return { list, decoded };
}

/**
 * Content-Type: `type "/" subtype *(";" parameter)` (RFC 2045 §5.1). Returns null when the
 * type or subtype is missing: RFC 2045 §5.2 then says to assume text/plain; charset=us-ascii.
 */
export function parseContentType(value: string): { type: string; subtype: string; params: MimeParams } | null {
  let i = skipCfws(value, 0);
  const typeEnd = readToken(value, i);
  if (typeEnd === i) return null;
  const type = value.slice(i, typeEnd);
  i = skipCfws(value, typeEnd);
  if (value[i] !== '/') return null;
  i = skipCfws(value, i + 1);
  const subEnd = readToken(value, i);
  if (subEnd === i) return null;
  const subtype = value.slice(i, subEnd);
  return { type, subtype, params: parseParameters(value, subEnd) };
}

/** Content-Disposition: `disposition-type *(";" parameter)` (RFC 2183 §2). */
export function parseContentDisposition(value: string): { type: string; params: MimeParams } | null {
  const i = skipCfws(value, 0);
  const end = readToken(value, i);
  if (end === i) return null;
  return { type: value.slice(i, end), params: parseParameters(value, end) };
}

/** A single MIME token, e.g. the Content-Transfer-Encoding mechanism (RFC 2045 §6.1). */
export function parseMimeToken(value: string): string | null {
  const i = skipCfws(value, 0);
  const end = readToken(value, i);
  return end === i ? null : value.slice(i, end);
}

/** Content-Language: `1#Language-tag` (RFC 3282 §2). */
export function parseLanguageList(value: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    i = skipCfws(value, i);
    const end = readToken(value, i);
    if (end > i) out.push(value.slice(i, end));
    i = skipCfws(value, end);
    if (value[i] !== ',') break;
    i++;
  }
  return out.length > 0 ? out : null;
}
