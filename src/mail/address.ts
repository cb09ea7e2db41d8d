/**
 * Mail addresses: domains (IDNA), RFC 5321 mailboxes (with RFC 6531 SMTPUTF8),
 * and the RFC 3461 DSN parameters (xtext, ORCPT, ENVID).
 *
 * Pure helpers: no I/O. Every exported function either returns or throws
 * AddressSyntaxError (DESIGN.md §7: a parser never throws anything else).
 */
import { isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';

/** Input that is not a valid address, domain or DSN parameter. */
export class AddressSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressSyntaxError';
  }
}

/** A parsed mailbox. `local` is decoded (no quoting) and case-preserved; `domain` is an A-label or an address literal. */
export interface Mailbox {
  local: string;
  domain: string;
}

// RFC 5321 §4.5.3.1.1 / §4.5.3.1.2 / §4.5.3.1.3 size limits.
const MAX_LOCAL_OCTETS = 64;
const MAX_ADDRESS_OCTETS = 254; // 256-octet path minus the angle brackets
const MAX_DOMAIN_OCTETS = 253; // 255 on the wire, minus length octets / root
const MAX_LABEL_OCTETS = 63; // RFC 1035 §2.3.4

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// RFC 5321 §4.1.2 sub-domain = Let-dig [Ldh-str]; Ldh-str ends in Let-dig.
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

function fail(message: string): never {
  throw new AddressSyntaxError(message);
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function requireString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') fail(`${what} must be a string`);
}

/** C0 controls, DEL and C1 controls. */
function isControl(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/** RFC 5321 §4.1.2 atext (RFC 5322 §3.2.3), plus UTF8-non-ascii when allowed (RFC 6531 §3.3). */
function isAtext(cp: number, allowUtf8: boolean): boolean {
  if (cp >= 0x80) return allowUtf8 && !isControl(cp);
  if ((cp >= 0x61 && cp <= 0x7a) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x30 && cp <= 0x39)) return true;
  return "!#$%&'*+-/=?^_`{|}~".includes(String.fromCharCode(cp));
}

/** RFC 5321 §4.1.2 qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF8-non-ascii (RFC 6531 §3.3). */
function isQtext(cp: number, allowUtf8: boolean): boolean {
  if (cp >= 0x80) return allowUtf8 && !isControl(cp);
  return cp >= 32 && cp <= 126 && cp !== 0x22 && cp !== 0x5c;
}

/** True if `s` is an RFC 5321 Dot-string (1*atext *("." 1*atext)). */
function isDotString(s: string, allowUtf8: boolean): boolean {
  if (s.length === 0) return false;
  let prevDot = true; // no leading dot
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0x2e) {
      if (prevDot) return false;
      prevDot = true;
    } else if (isAtext(cp, allowUtf8)) {
      prevDot = false;
    } else {
      return false;
    }
  }
  return !prevDot; // no trailing dot
}

// ---------------------------------------------------------------------------
// Domains

/**
 * Normalize a domain name to its IDNA A-label form: lowercase, no trailing dot.
 * Each label must be letters/digits/hyphen after IDNA (RFC 5321 §4.1.2, RFC 5890 §2.3.1).
 * Address literals are not accepted here (only in parseMailbox).
 */
export function normalizeDomain(input: string): string {
  requireString(input, 'domain');
  let s = input;
  if (s.endsWith('.')) s = s.slice(0, -1); // an absolute name is the same domain
  if (s.length === 0) fail('empty domain');
  if (s.length > 4 * MAX_DOMAIN_OCTETS) fail('domain too long');
  if (LONE_SURROGATE.test(s)) fail('domain is not valid Unicode');
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      if (isControl(c)) fail('control character in domain');
      continue;
    }
    // Checked before domainToASCII: the WHATWG host parser would percent-decode,
    // parse numbers as IPv4, and allow characters a mail domain must not have.
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
    if (!ok) fail(`character ${JSON.stringify(String.fromCharCode(c))} not allowed in a domain`);
  }
  const a = domainToASCII(s);
  if (a === '') fail('invalid internationalized domain name');
  if (ascii && a !== s.toLowerCase()) fail('invalid domain');
  if (a.length > MAX_DOMAIN_OCTETS) fail('domain too long');
  const labels = a.split('.');
  for (const label of labels) {
    if (label.length === 0) fail('empty label in domain');
    if (label.length > MAX_LABEL_OCTETS) fail('domain label longer than 63 octets');
    if (!LDH_LABEL.test(label)) fail('domain label must be letters, digits and inner hyphens');
  }
  // RFC 3696 §2: a top-level domain is never all-numeric (also keeps IPv4 lookalikes out).
  if (/^[0-9]+$/.test(labels[labels.length - 1])) fail('all-numeric top-level domain');
  // The A-labels must be canonical: U-label → A-label must give them back (RFC 5891 §5.4),
  // and a U-label may not start or end with a hyphen (RFC 5891 §4.2.3.1).
  if (a.includes('xn--')) {
    const u = domainToUnicode(a);
    if (u === '' || domainToASCII(u) !== a) fail('invalid A-label in domain');
    for (const label of u.split('.')) {
      if (label.startsWith('-') || label.endsWith('-')) fail('domain label must not start or end with a hyphen');
    }
  }
  return a;
}

/** The U-label (display) form of a domain. Address literals are returned unchanged. */
export function displayDomain(aLabel: string): string {
  requireString(aLabel, 'domain');
  if (aLabel.startsWith('[')) return parseAddressLiteral(aLabel);
  const a = normalizeDomain(aLabel);
  const u = domainToUnicode(a);
  if (u === '') fail('invalid domain');
  return u;
}

/**
 * RFC 5321 §4.1.3 address literals: `[1.2.3.4]` or `[IPv6:...]`.
 * General-address-literal has no other standardized tags, so it is rejected.
 * Returns the normalized literal.
 */
function parseAddressLiteral(text: string): string {
  if (text.length < 3 || !text.startsWith('[') || !text.endsWith(']')) fail('invalid address literal');
  const inner = text.slice(1, -1);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(inner);
  if (v4) {
    // Snum = 1*3DIGIT representing a decimal integer value in the range 0 through 255
    const parts = v4.slice(1).map(Number);
    if (parts.some((n) => n > 255)) fail('invalid IPv4 address literal');
    return `[${parts.join('.')}]`;
  }
  if (/^ipv6:/i.test(inner)) {
    const addr = inner.slice(5);
    if (!/^[0-9A-Fa-f:.]+$/.test(addr) || !isIPv6(addr)) fail('invalid IPv6 address literal');
    return `[IPv6:${addr.toLowerCase()}]`;
  }
  fail('unsupported address literal');
}

// ---------------------------------------------------------------------------
// Mailboxes

/**
 * Parse an RFC 5321 §4.1.2 Mailbox (`Local-part "@" ( Domain / address-literal )`),
 * without angle brackets. The local part is returned decoded (quotes and quoted-pairs
 * removed) and case-preserved (RFC 5321 §2.4); the domain is returned as an A-label.
 * UTF-8 is accepted only with `allowUtf8` (RFC 6531 SMTPUTF8).
 */
export function parseMailbox(text: string, opts: { allowUtf8?: boolean } = {}): Mailbox {
  requireString(text, 'address');
  const allowUtf8 = opts.allowUtf8 === true;
  if (text.length === 0) fail('empty address');
  // RFC 5321 §4.5.3.1.3: the path is at most 256 octets including "<" and ">".
  if (text.length > MAX_ADDRESS_OCTETS || utf8Length(text) > MAX_ADDRESS_OCTETS) fail('address too long');
  if (LONE_SURROGATE.test(text)) fail('address is not valid Unicode');

  let local: string;
  let i: number;
  if (text.charCodeAt(0) === 0x22) {
    // Quoted-string = DQUOTE *QcontentSMTP DQUOTE (RFC 5321 §4.1.2)
    i = 1;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated quoted local part');
      const cp = text.codePointAt(i) as number;
      if (cp === 0x22) {
        i++;
        break;
      }
      if (cp === 0x5c) {
        // quoted-pairSMTP = %d92 %d32-126
        const n = text.charCodeAt(i + 1);
        if (!(n >= 32 && n <= 126)) fail('invalid quoted-pair in local part');
        out += text[i + 1];
        i += 2;
        continue;
      }
      if (!isQtext(cp, allowUtf8)) {
        fail(cp >= 0x80 ? 'non-ASCII local part requires SMTPUTF8' : 'invalid character in quoted local part');
      }
      const ch = String.fromCodePoint(cp);
      out += ch;
      i += ch.length;
    }
    local = out;
  } else {
    // Dot-string = Atom *("." Atom); atext never contains "@".
    const at = text.indexOf('@');
    if (at < 0) fail('missing "@" in address');
    const raw = text.slice(0, at);
    if (!isDotString(raw, allowUtf8)) {
      fail(!allowUtf8 && /[^\x00-\x7f]/.test(raw) ? 'non-ASCII local part requires SMTPUTF8' : 'invalid local part');
    }
    local = raw;
    i = at;
  }
  if (text.charCodeAt(i) !== 0x40) fail('missing "@" after local part');
  // RFC 5321 §4.5.3.1.1: local part at most 64 octets.
  if (utf8Length(text.slice(0, i)) > MAX_LOCAL_OCTETS) fail('local part longer than 64 octets');

  const domainText = text.slice(i + 1);
  let domain: string;
  if (domainText.startsWith('[')) {
    domain = parseAddressLiteral(domainText);
  } else {
    if (domainText.length === 0) fail('missing domain');
    // RFC 5321 Domain has no trailing dot.
    if (domainText.endsWith('.')) fail('trailing dot in domain');
    // Without SMTPUTF8 only A-labels may appear (RFC 6531 §3.2).
    if (!allowUtf8 && /[^\x00-\x7f]/.test(domainText)) fail('non-ASCII domain requires SMTPUTF8');
    domain = normalizeDomain(domainText);
  }
  // The canonical (A-label) form must also fit, so formatMailbox output parses again.
  if (utf8Length(formatLocalPart(local)) + 1 + domain.length > MAX_ADDRESS_OCTETS) fail('address too long');
  return { local, domain };
}

/** A local part as it appears on the wire: a dot-atom as is, anything else quoted (RFC 5321 §4.1.2). */
function formatLocalPart(local: string): string {
  if (isDotString(local, true)) return local;
  let out = '"';
  for (const ch of local) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0x22 || cp === 0x5c) out += '\\' + ch;
    else if (isQtext(cp, true)) out += ch;
    else fail('local part contains a character that cannot be quoted');
  }
  return out + '"';
}

/**
 * Format a mailbox for the wire or a header: the local part is quoted when it is not a
 * dot-atom; with `unicode` the domain is given in U-label form.
 */
export function formatMailbox(mailbox: Mailbox, opts: { unicode?: boolean } = {}): string {
  if (mailbox === null || typeof mailbox !== 'object') fail('mailbox must be an object');
  const { local, domain } = mailbox;
  requireString(local, 'local part');
  requireString(domain, 'domain');
  if (LONE_SURROGATE.test(local)) fail('local part is not valid Unicode');
  const l = formatLocalPart(local);
  let d: string;
  if (domain.startsWith('[')) d = parseAddressLiteral(domain);
  else d = opts.unicode === true ? displayDomain(domain) : normalizeDomain(domain);
  return `${l}@${d}`;
}

/**
 * The lookup key for a local part: case-insensitive (RFC 5321 §2.4 leaves case to the
 * receiving host; we fold it, also for UTF-8 after NFC, RFC 6530 §10.1) with quoting removed.
 * Takes the decoded local part from parseMailbox; a still-quoted `"..."` form is unquoted too.
 */
export function localPartKey(local: string): string {
  requireString(local, 'local part');
  let s = local;
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) {
    const unq = unquote(s);
    if (unq !== null) s = unq;
  }
  if (LONE_SURROGATE.test(s)) fail('local part is not valid Unicode');
  return s.normalize('NFC').toLowerCase();
}

/** The case-insensitive identity of an address (`localPartKey@domain`), for sets and maps. */
export function addressKey(mailbox: Mailbox): string {
  return `${localPartKey(mailbox.local)}@${mailbox.domain}`;
}

/**
 * Splits an address the store holds (already normalized by parseMailbox: local@A-label)
 * at its last "@", without validating it again.
 */
export function splitStoredAddress(address: string): Mailbox {
  const at = address.lastIndexOf('@');
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/** Decode a complete Quoted-string, or null if `s` is not one. */
function unquote(s: string): string | null {
  let out = '';
  for (let i = 1; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) {
      if (i + 1 >= s.length - 1) return null;
      out += s[++i];
    } else if (c === 0x22) {
      return null;
    } else {
      out += s[i];
    }
  }
  return out;
}

/**
 * Split a subaddress: `user+tag` → base `user`, tag `tag`. The first separator counts.
 * A leading separator (`+user`), or none, means no tag; `user+` gives an empty tag.
 */
export function splitPlusTag(local: string, separator = '+'): { base: string; tag: string | null } {
  requireString(local, 'local part');
  requireString(separator, 'separator');
  if (separator.length === 0) return { base: local, tag: null };
  const at = local.indexOf(separator);
  if (at <= 0) return { base: local, tag: null };
  return { base: local.slice(0, at), tag: local.slice(at + separator.length) };
}

// ---------------------------------------------------------------------------
// RFC 3461 DSN parameters

const HEX_UPPER = /^[0-9A-F]{2}$/;

/** Decode RFC 3461 §4 xtext: chars 33..126 except "+" and "=", and "+" 2 uppercase hex digits. */
export function decodeXtext(s: string): string {
  requireString(s, 'xtext');
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      // hexchar = ASCII "+" immediately followed by two upper case hexadecimal digits
      const hex = s.slice(i + 1, i + 3);
      if (!HEX_UPPER.test(hex)) fail('invalid xtext: "+" must be followed by two uppercase hex digits');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c >= 33 && c <= 126 && c !== 0x3d) {
      bytes.push(c);
    } else {
      fail('invalid character in xtext');
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
  } catch {
    fail('xtext does not decode to UTF-8');
  }
}

/** Encode as RFC 3461 §4 xtext (UTF-8 octets; "+", "=", controls, space and non-ASCII as "+XX"). */
export function encodeXtext(s: string): string {
  requireString(s, 'text');
  if (LONE_SURROGATE.test(s)) fail('text is not valid Unicode');
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b >= 33 && b <= 126 && b !== 0x2b && b !== 0x3d) out += String.fromCharCode(b);
    else out += '+' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * RFC 6533 §3 utf-8-addr-xtext: QCHAR (ASCII graphic except "+", "=", "\\") as itself,
 * anything else as EmbeddedUnicodeChar `\x{HEXPOINT}` (upper-case, at least two digits).
 * The result is 7-bit: fit for ORCPT and for message/delivery-status fields. Lone
 * surrogates become U+FFFD.
 */
export function encodeUtf8AddrXtext(address: string): string {
  let out = '';
  for (const ch of address.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\ufffd')) {
    const cp = ch.codePointAt(0) as number;
    const qchar = cp >= 0x21 && cp <= 0x7e && cp !== 0x2b && cp !== 0x3d && cp !== 0x5c;
    out += qchar ? ch : `\\x{${cp.toString(16).toUpperCase().padStart(2, '0')}}`;
  }
  return out;
}

/**
 * Decode RFC 6533 §3 utf-8-addr-xtext / utf-8-addr-unitext: QCHAR (ASCII graphic except
 * "+", "=", "\"), UTF-8 (unitext), and EmbeddedUnicodeChar `\x{HEXPOINT}`.
 */
function decodeUtf8AddrXtext(s: string): string {
  if (LONE_SURROGATE.test(s)) fail('ORCPT is not valid Unicode');
  let out = '';
  let i = 0;
  while (i < s.length) {
    const cp = s.codePointAt(i) as number;
    if (cp === 0x5c) {
      const m = /^\\x\{([0-9A-Fa-f]{2,6})\}/.exec(s.slice(i, i + 10));
      if (!m) fail('invalid \\x{...} escape in ORCPT');
      const hex = m[1];
      const v = parseInt(hex, 16);
      // HEXPOINT: 2 to 6 hex digits, no leading zero beyond the 2-digit forms, and only
      // xtext specials, controls or non-ASCII (an ASCII QCHAR must appear as itself).
      if (hex.length > 2 && hex[0] === '0') fail('invalid \\x{...} escape in ORCPT');
      const special = v <= 0x20 || v === 0x2b || v === 0x3d || v === 0x5c || v === 0x7f;
      if (v === 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) || (v < 0x80 && !special)) {
        fail('invalid \\x{...} escape in ORCPT');
      }
      out += String.fromCodePoint(v);
      i += m[0].length;
      continue;
    }
    if (cp < 0x80) {
      // QCHAR = %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e
      if (cp < 0x21 || cp > 0x7e || cp === 0x2b || cp === 0x3d) fail('invalid character in ORCPT');
    } else if (isControl(cp)) {
      fail('invalid character in ORCPT');
    }
    const ch = String.fromCodePoint(cp);
    out += ch;
    i += ch.length;
  }
  return out;
}

/**
 * Parse an RFC 3461 §4.2 ORCPT value, `addr-type ";" xtext`. The addr-type is returned
 * lowercase; the address is decoded. "utf-8" uses the RFC 6533 §3 encodings.
 */
export function parseOrcpt(value: string): { addrType: string; address: string } {
  requireString(value, 'ORCPT');
  // RFC 3461 §4.2: the ORCPT parameter may be up to 500 characters.
  if (value.length > 500) fail('ORCPT too long');
  const semi = value.indexOf(';');
  if (semi < 0) fail('ORCPT must be addr-type ";" address');
  const addrType = value.slice(0, semi).toLowerCase();
  // addr-type = atom (RFC 3461 §4.2)
  if (!isDotString(addrType, false) || addrType.includes('.')) fail('invalid ORCPT address type');
  const encoded = value.slice(semi + 1);
  if (encoded.length === 0) fail('empty ORCPT address');
  const address = addrType === 'utf-8' ? decodeUtf8AddrXtext(encoded) : decodeXtext(encoded);
  if (address.length === 0) fail('empty ORCPT address');
  // The decoded address ends up in DSN text: no CR, LF, NUL or other controls.
  for (const ch of address) {
    if (isControl(ch.codePointAt(0) as number)) fail('control character in ORCPT address');
  }
  if ((addrType === 'rfc822' || addrType === 'utf-8') && !address.includes('@')) fail('ORCPT address is not a mailbox');
  return { addrType, address };
}

/**
 * Validate an RFC 3461 §4.4 ENVID: xtext of at most 100 characters whose decoded value is
 * printable US-ASCII. Returns the decoded value.
 */
export function validateEnvid(value: string): string {
  requireString(value, 'ENVID');
  if (value.length === 0) fail('empty ENVID');
  if (value.length > 100) fail('ENVID longer than 100 characters');
  const decoded = decodeXtext(value);
  if (!/^[\x20-\x7e]*$/.test(decoded)) fail('ENVID must be printable US-ASCII');
  return decoded;
}
