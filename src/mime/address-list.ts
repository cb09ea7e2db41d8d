/**
 * RFC 5322 §3.4 address lists (with the obsolete syntax of §4.4) as IMAP ENVELOPE address
 * structures (RFC 9051 §7.5.2): `(name adl mailbox host)`.
 *
 *   parseAddressList(value): ImapSexp   a list of address structures, or NIL when it has none
 *
 * `value` is the unfolded header value as text (encoded words still encoded). Conventions,
 * mostly as Dovecot and UW imapd have them:
 * - name: the display name with quotes removed and words joined by one space, encoded words
 *   kept as they are; for a bare addr-spec, the text of a trailing comment; NIL when empty.
 * - adl: an obsolete source route `@a,@b` (§4.4), else NIL.
 * - mailbox: the local part with quoting removed; host: the domain (a domain literal keeps
 *   its brackets). A missing local part or domain is "" (never NIL: a NIL host marks a group,
 *   §7.5.2). Dovecot writes MISSING_MAILBOX / MISSING_DOMAIN there instead.
 * - group `name: a, b;` → (NIL NIL "name" NIL), the members, then (NIL NIL NIL NIL).
 * Never throws; what cannot be understood is skipped up to the next comma.
 */
import type { ImapSexp } from './types.js';

type Tok =
  | { t: 'atom'; v: string; ws: boolean } // ws: whitespace or a comment came before it
  | { t: 'quoted'; v: string; ws: boolean }
  | { t: 'literal'; v: string; ws: boolean } // [domain literal]
  | { t: 'special'; v: string; ws: boolean }
  | { t: 'comment'; v: string; ws: boolean };

const SPECIALS = '()<>[]:;@\\,."';
// 1: special, 2: whitespace
const CLASS = new Uint8Array(128);
for (const c of SPECIALS) CLASS[c.charCodeAt(0)] = 1;
for (const c of ' \t\r\n') CLASS[c.charCodeAt(0)] = 2;
const charClass = (s: string, i: number): number => {
  const c = s.charCodeAt(i);
  return c < 128 ? CLASS[c] : 0;
};

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let ws = false;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      ws = true;
      i++;
    } else if (c === '(') {
      let depth = 0;
      let text = '';
      for (; i < s.length; i++) {
        const d = s[i];
        if (d === '\\' && i + 1 < s.length) {
          text += s[++i];
          continue;
        }
        if (d === '(' && depth++ === 0) continue;
        if (d === ')' && --depth === 0) {
          i++;
          break;
        }
        text += d;
      }
      out.push({ t: 'comment', v: text, ws });
      ws = true;
    } else if (c === '"') {
      let text = '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        text += s[i++];
      }
      i++;
      out.push({ t: 'quoted', v: text, ws });
      ws = false;
    } else if (c === '[') {
      const close = s.indexOf(']', i);
      const end = close < 0 ? s.length : close + 1;
      out.push({ t: 'literal', v: s.slice(i, end).replace(/[ \t\r\n]+/g, ''), ws });
      i = end;
      ws = false;
    } else if (charClass(s, i) === 1) {
      out.push({ t: 'special', v: c, ws });
      i++;
      ws = false;
    } else {
      const start = i;
      while (i < s.length && charClass(s, i) === 0) i++;
      out.push({ t: 'atom', v: s.slice(start, i), ws });
      ws = false;
    }
  }
  return out;
}

const isSpecial = (t: Tok | undefined, v: string): boolean => t !== undefined && t.t === 'special' && t.v === v;

/** Words of a display name, joined by one space where the source had whitespace (obs-phrase allows "."). */
function phrase(toks: Tok[]): string | null {
  let out = '';
  for (const t of toks) {
    if (t.t === 'comment') continue;
    if (out !== '' && t.ws) out += ' ';
    out += t.v;
  }
  return out === '' ? null : out;
}

/** local-part "@" domain from tokens (comments dropped, quoting removed). */
function addrSpec(toks: Tok[]): { local: string; domain: string } {
  const at = toks.findIndex((t) => isSpecial(t, '@'));
  const join = (ts: Tok[]) =>
    ts
      .filter((t) => t.t !== 'comment')
      .map((t) => t.v)
      .join('');
  if (at < 0) return { local: join(toks), domain: '' };
  return { local: join(toks.slice(0, at)), domain: join(toks.slice(at + 1)) };
}

function address(name: string | null, adl: string | null, local: string, domain: string): ImapSexp[] {
  return [name, adl, local, domain];
}

/** A mailbox from the tokens between two commas (or inside a group), or null if it is empty. */
function mailbox(toks: Tok[]): ImapSexp[] | null {
  const lt = toks.findIndex((t) => isSpecial(t, '<'));
  if (lt >= 0) {
    // name-addr = [display-name] angle-addr
    let gt = toks.findIndex((t, k) => k > lt && isSpecial(t, '>'));
    if (gt < 0) gt = toks.length;
    let inner = toks.slice(lt + 1, gt);
    let adl: string | null = null;
    // obs-route = obs-domain-list ":" (RFC 5322 §4.4)
    const colon = inner.findIndex((t) => isSpecial(t, ':'));
    if (colon >= 0 && isSpecial(inner.find((t) => t.t !== 'comment'), '@')) {
      adl = inner
        .slice(0, colon)
        .filter((t) => t.t !== 'comment')
        .map((t) => t.v)
        .join('');
      inner = inner.slice(colon + 1);
    }
    const { local, domain } = addrSpec(inner);
    return address(phrase(toks.slice(0, lt)), adl || null, local, domain);
  }
  if (toks.every((t) => t.t === 'comment')) return null;
  // a bare addr-spec; a comment after it is the traditional place for the name
  const comments = toks.filter((t) => t.t === 'comment');
  const { local, domain } = addrSpec(toks);
  const name = comments.length > 0 ? comments[comments.length - 1].v.replace(/[ \t]+/g, ' ').trim() : '';
  return address(name === '' ? null : name, null, local, domain);
}

/** Split tokens at top-level commas. */
function splitCommas(toks: Tok[]): Tok[][] {
  const out: Tok[][] = [];
  let cur: Tok[] = [];
  let inAngle = false;
  for (const t of toks) {
    if (isSpecial(t, '<')) inAngle = true;
    else if (isSpecial(t, '>')) inAngle = false;
    if (isSpecial(t, ',') && !inAngle) {
      out.push(cur);
      cur = [];
    } else {
      cur.push(t);
    }
  }
  out.push(cur);
  return out;
}

/** An address-list header value → list of ENVELOPE address structures, or NIL. */
export function parseAddressList(value: string | null): ImapSexp {
  if (value === null) return null;
  const toks = tokenize(value);
  const out: ImapSexp[] = [];
  let i = 0;
  while (i < toks.length) {
    // A group is `display-name ":" [mailbox-list] ";"`; find out whether a ":" comes before
    // the next top-level "," or "<".
    let j = i;
    let group = -1;
    while (j < toks.length && !isSpecial(toks[j], ',') && !isSpecial(toks[j], '<')) {
      if (isSpecial(toks[j], ':')) {
        group = j;
        break;
      }
      j++;
    }
    if (group >= 0) {
      let end = group + 1;
      while (end < toks.length && !isSpecial(toks[end], ';')) end++;
      out.push([null, null, phrase(toks.slice(i, group)) ?? '', null]);
      for (const member of splitCommas(toks.slice(group + 1, end))) {
        const m = mailbox(member);
        if (m !== null) out.push(m);
      }
      out.push([null, null, null, null]);
      i = end + 1;
      continue;
    }
    // one mailbox, up to the next top-level comma (or a stray ";")
    let k = i;
    let inAngle = false;
    while (k < toks.length) {
      const t = toks[k];
      if (isSpecial(t, '<')) inAngle = true;
      else if (isSpecial(t, '>')) inAngle = false;
      else if (!inAngle && (isSpecial(t, ',') || isSpecial(t, ';'))) break;
      k++;
    }
    const m = mailbox(toks.slice(i, k));
    if (m !== null) out.push(m);
    i = k + 1;
  }
  return out.length > 0 ? out : null;
}
