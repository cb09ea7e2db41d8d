/**
 * Trace and identification headers: `Received:` (RFC 5321 §4.4), RFC 5322 dates,
 * and Message-ID generation (RFC 5322 §3.6.4).
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { normalizeDomain } from './address.js';

/** RFC 3848 / RFC 6531 §3.7.3 "with" protocol names. */
export type ReceivedProtocol =
  | 'SMTP'
  | 'ESMTP'
  | 'ESMTPS'
  | 'ESMTPA'
  | 'ESMTPSA'
  | 'UTF8SMTP'
  | 'UTF8SMTPS'
  | 'UTF8SMTPA'
  | 'UTF8SMTPSA';

const PROTOCOLS: ReadonlySet<string> = new Set<ReceivedProtocol>([
  'SMTP',
  'ESMTP',
  'ESMTPS',
  'ESMTPA',
  'ESMTPSA',
  'UTF8SMTP',
  'UTF8SMTPS',
  'UTF8SMTPA',
  'UTF8SMTPSA',
]);

export interface ReceivedInfo {
  /** The HELO/EHLO argument, as the client sent it (sanitized here). */
  fromHelo: string;
  clientIp: string;
  /** Verified reverse DNS name, if any. */
  clientHostname?: string | null;
  /** Our host name. */
  byHost: string;
  protocol: ReceivedProtocol;
  /** Queue id. */
  id: string;
  /** Set when the message has a single recipient (RFC 5321 §7.2: never list several). */
  forAddress?: string | null;
  tls?: { protocol: string; cipher: string } | null;
  date: Date;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An RFC 5322 §3.3 date-time in UTC: `Sun, 29 Nov 2026 07:14:22 +0000`. */
export function formatRfc5322Date(date: Date): string {
  const t = date.getTime();
  if (!Number.isFinite(t)) throw new RangeError('invalid date');
  const two = (n: number) => String(n).padStart(2, '0');
  const year = date.getUTCFullYear();
  // RFC 5322 §3.3: year = 4*DIGIT
  if (year < 0 || year > 9999) throw new RangeError('year out of range for RFC 5322');
  return (
    `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${String(year).padStart(4, '0')} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}

/** A fresh RFC 5322 §3.6.4 msg-id: `<random@hostname>`, 128 random bits plus the time. */
export function generateMessageId(hostname: string): string {
  const left = `${Date.now().toString(36)}.${randomBytes(16).toString('base64url')}`;
  return `<${left}@${messageIdDomain(hostname)}>`;
}

/** id-right = dot-atom-text: our normalized host name, or a sanitized fallback. */
function messageIdDomain(hostname: string): string {
  try {
    return normalizeDomain(hostname);
  } catch {
    const cleaned = String(hostname)
      .replace(/[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]/g, '')
      .replace(/\.{2,}/g, '.')
      .replace(/^\.+|\.+$/g, '')
      .slice(0, 253);
    return cleaned.length > 0 ? cleaned : 'localhost';
  }
}

/**
 * Make client- or DNS-supplied text safe inside a header: printable ASCII without
 * whitespace, comment delimiters, quoting or ";" (which ends the clauses), capped in length.
 * Nothing that survives can start a new header line.
 */
function sanitizeToken(s: string | null | undefined, max: number): string {
  if (typeof s !== 'string') return '';
  return s.replace(/[^\x21-\x7e]|[()\\;"<>]/g, '').slice(0, max);
}

/** TCP-info address literal for the client (RFC 5321 §4.1.3); IPv4-mapped IPv6 shown as IPv4. */
function addressLiteral(ip: string): string {
  let addr = typeof ip === 'string' ? ip.trim() : '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) addr = mapped[1];
  const kind = isIP(addr);
  if (kind === 4) return `[${addr}]`;
  if (kind === 6) return `[IPv6:${addr.toLowerCase().replace(/%.*$/, '')}]`;
  const cleaned = sanitizeToken(addr, 64).replace(/[[\]]/g, '');
  return `[${cleaned || 'unknown'}]`;
}

/** The `for` address: printable, no controls or angle brackets (UTF-8 allowed for SMTPUTF8). */
function sanitizeAddress(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f<>]/g, '').slice(0, 256);
}

/**
 * Fold a header line at whitespace (RFC 5322 §2.2.3) so lines stay within `limit` where
 * possible. Breaks only before a space that sits between two non-space characters, so no
 * continuation line is all whitespace. Returns the text with CRLFs inserted, without a final CRLF.
 */
export function foldHeaderLine(line: string, limit = 78): string {
  const out: string[] = [];
  let start = 0;
  while (line.length - start > limit) {
    let brk = -1;
    // The last break candidate that keeps this line within the limit...
    for (let i = start + limit; i > start; i--) {
      if (isBreak(line, i)) {
        brk = i;
        break;
      }
    }
    // ...or the first one after it, when a single word is longer than the limit.
    if (brk < 0) {
      for (let i = start + limit + 1; i < line.length; i++) {
        if (isBreak(line, i)) {
          brk = i;
          break;
        }
      }
    }
    if (brk < 0) break;
    out.push(line.slice(start, brk));
    start = brk;
  }
  out.push(line.slice(start));
  return out.join('\r\n');
}

function isBreak(line: string, i: number): boolean {
  return (
    i > 0 &&
    i < line.length - 1 &&
    (line[i] === ' ' || line[i] === '\t') &&
    line[i - 1] !== ' ' &&
    line[i - 1] !== '\t' &&
    line[i + 1] !== ' ' &&
    line[i + 1] !== '\t'
  );
}

/**
 * Build the RFC 5321 §4.4 trace header, folded, ending with CRLF:
 * `Received: from HELO (hostname [ip]) (using TLS...) by byHost (Posta) with PROTO id ID for <addr>; DATE`.
 */
export function buildReceivedHeader(info: ReceivedInfo): string {
  // RFC 5321 §4.4 From-domain: the client's EHLO argument, then TCP-info in a comment.
  const helo = sanitizeToken(info.fromHelo, 255) || 'unknown';
  const host = sanitizeToken(info.clientHostname, 255);
  const lit = addressLiteral(info.clientIp);
  const parts: string[] = [`Received: from ${helo} (${host ? `${host} ${lit}` : lit})`];

  if (info.tls) {
    // A comment, as Postfix writes it; RFC 8314 §4.3 asks for the TLS details in trace fields.
    const proto = sanitizeToken(info.tls.protocol, 32) || 'TLS';
    const cipher = sanitizeToken(info.tls.cipher, 100) || 'unknown';
    parts.push(`(using ${proto} with cipher ${cipher})`);
  }

  const by = sanitizeToken(info.byHost, 255) || 'localhost';
  parts.push(`by ${by} (Posta)`);

  // RFC 3848 / RFC 6531 §3.7.3 protocol names.
  if (!PROTOCOLS.has(info.protocol)) throw new TypeError(`unknown Received protocol ${String(info.protocol)}`);
  parts.push(`with ${info.protocol}`);

  // ID = CFWS "ID" FWS ( Atom / msg-id )
  const id = String(info.id ?? '').replace(/[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]/g, '').slice(0, 100);
  if (id) parts.push(`id ${id}`);

  // For = CFWS "FOR" FWS ( Path / Mailbox )
  if (info.forAddress) {
    const addr = sanitizeAddress(info.forAddress);
    if (addr) parts.push(`for <${addr}>`);
  }

  parts[parts.length - 1] += `; ${formatRfc5322Date(info.date)}`;
  return foldClauses(parts) + '\r\n';
}

/**
 * Pack clauses into lines of at most `limit` characters, breaking between clauses first
 * (as Postfix does) and inside a clause only when it alone is too long.
 */
function foldClauses(clauses: string[], limit = 78): string {
  const lines: string[] = [];
  let current = clauses[0];
  for (const clause of clauses.slice(1)) {
    if (current.length + 1 + clause.length <= limit) {
      current += ' ' + clause;
    } else {
      lines.push(current);
      current = ' ' + clause;
    }
  }
  lines.push(current);
  return lines.map((l) => foldHeaderLine(l, limit)).join('\r\n');
}
