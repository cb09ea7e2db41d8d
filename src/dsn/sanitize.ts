/**
 * Making untrusted text safe for a DSN: remote SMTP replies, addresses, host names and the
 * original Subject can hold CR, LF, NUL, other controls, bidi overrides or megabytes of text.
 * Nothing that leaves here can end a header line or start a MIME part.
 */

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// C0 controls (TAB, CR and LF included), DEL and C1 controls.
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/g;
// Invisible format characters that reorder or hide text (bidi marks, embeddings, overrides and
// isolates, zero-width and BOM): a reply could use them to make the notice lie about itself.
const FORMAT_CHARS = /[\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Replace lone UTF-16 surrogates (not encodable as UTF-8) with U+FFFD. */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATES, '\ufffd');
}

export interface SafeTextOptions {
  /** Replace each non-ASCII character with "?" (for 7-bit fields). */
  ascii?: boolean;
  /** Longest result in UTF-16 code units; longer text ends in "...". */
  max?: number;
}

/**
 * One line of plain text: controls become spaces, invisible format characters go, runs of
 * white space shrink to one space, and the ends are trimmed.
 */
export function safeText(input: string | null | undefined, opts: SafeTextOptions = {}): string {
  if (typeof input !== 'string') return '';
  let s = wellFormed(input).replace(FORMAT_CHARS, '').replace(CONTROLS, ' ');
  if (opts.ascii === true) s = s.replace(/[^\x00-\x7f]/gu, '?');
  s = s.replace(/ {2,}/g, ' ').trim();
  return opts.max === undefined ? s : truncate(s, opts.max);
}

/** Cut `s` to at most `max` code units, ending in "..." when cut, never inside a surrogate pair. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = Math.max(0, max - 3);
  const c = s.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return s.slice(0, cut).trimEnd() + '...';
}

/** Longest Diagnostic-Code text we copy from a remote reply. */
export const MAX_DIAGNOSTIC = 900;

const REPLY_LINE = /^([2-5]\d\d)(?:([ -])(.*))?$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?: +|$)/;

/**
 * Join an SMTP reply into one line (RFC 5321 §4.2.1 multi-line replies): the reply code and
 * enhanced code (RFC 2034 §4) are kept once, the repeated prefixes of the continuation lines
 * are dropped, so `550-5.1.1 a\r\n550 5.1.1 b` becomes `550 5.1.1 a b`. Lines that are not
 * reply lines (our own words, or a peer that broke the format) are kept as they are.
 * Controls are removed and the result capped; `ascii` replaces non-ASCII with "?".
 */
export function joinReply(reply: string | null | undefined, opts: { ascii?: boolean; max?: number } = {}): string {
  if (typeof reply !== 'string') return '';
  // Bound the work before splitting: a reply of megabytes is cut long before it matters.
  const lines = wellFormed(reply.slice(0, 64 * 1024))
    .split(/\r\n|\r|\n/)
    .map((l) => safeText(l))
    .filter((l) => l.length > 0);
  let code: string | null = null;
  let enhanced: string | null = null;
  const pieces: string[] = [];
  lines.forEach((line, i) => {
    const m = REPLY_LINE.exec(line);
    if (i === 0) {
      if (!m) {
        pieces.push(line);
        return;
      }
      code = m[1];
      let rest = (m[3] ?? '').trim();
      const e = ENHANCED.exec(rest);
      if (e) {
        enhanced = e[1];
        rest = rest.slice(e[0].length);
      }
      pieces.push([code, enhanced, rest].filter((p) => p).join(' '));
      return;
    }
    if (m && m[1] === code) {
      let rest = (m[3] ?? '').trim();
      const e = ENHANCED.exec(rest);
      if (e && e[1] === enhanced) rest = rest.slice(e[0].length);
      if (rest) pieces.push(rest);
      return;
    }
    pieces.push(line);
  });
  return safeText(pieces.join(' '), { ascii: opts.ascii, max: opts.max ?? MAX_DIAGNOSTIC });
}

/** True when a (joined) reply starts with an SMTP reply code, so its diagnostic-type is "smtp". */
export function isSmtpReply(reply: string): boolean {
  return /^[2-5]\d\d(?: |$)/.test(reply);
}

/**
 * A host name for `dns;` fields and the human text: printable ASCII without white space,
 * quoting, comments or ";" (which would end the type), at most 255 characters.
 */
export function safeHost(host: string | null | undefined): string {
  if (typeof host !== 'string') return '';
  return host.replace(/[^\x21-\x7e]|[;()\\"<>,]/g, '').slice(0, 255);
}

/** An address for the human-readable text: UTF-8 kept, controls and format characters removed. */
export function displayAddress(address: string): string {
  return safeText(address, { max: 300 }).replace(/[<>]/g, '');
}

export { encodeUtf8AddrXtext } from '../mail/address.js';

/**
 * Cut an encoded field value to `max` characters without leaving half an escape behind
 * (xtext "+XX", utf-8-addr-xtext "\x{...}"). Only reached by values no valid input produces;
 * it keeps every line of the notice within RFC 5322's 998 octets.
 */
export function capEncoded(value: string, max: number): string {
  if (value.length <= max) return value;
  let s = value.slice(0, max);
  s = s.replace(/\+[0-9A-F]?$/, '').replace(/\\(?:x(?:\{[0-9A-F]*)?)?$/, '');
  return s;
}
