/**
 * Build a delivery status notification: an RFC 6522 multipart/report with an RFC 3464
 * message/delivery-status part, following RFC 3461 (ENVID, ORCPT, RET).
 *
 * The notice is a complete RFC 5322 message: CRLF line ends, every line at most 998 octets,
 * a 7-bit header section, and 7-bit first and second parts. Only the returned original (third
 * part) may be 8bit, and then the Content-Transfer-Encoding says so.
 *
 * Nothing from outside (remote replies, addresses, ENVID, ORCPT, the original Subject) can add
 * a header, a field or a MIME part: text is stripped of controls and capped, fields are xtext
 * encoded where RFC 3461 says so, the human text is quoted-printable, and the boundary is random
 * and checked against the content.
 */
import { randomBytes } from 'node:crypto';
import { encodeXtext, formatMailbox, normalizeDomain, parseMailbox } from '../mail/address.js';
import { foldHeaderLine, formatRfc5322Date, generateMessageId } from '../mail/received.js';
import { renderHumanText } from './human-text.js';
import { encodeHeaderWords, encodeQuotedPrintable } from './mime-encoding.js';
import { endWithCrlf, originalSubject, returnedContent } from './original-message.js';
import {
  capEncoded,
  encodeUtf8AddrXtext,
  isSmtpReply,
  joinReply,
  MAX_DIAGNOSTIC,
  safeHost,
  safeText,
  wellFormed,
} from './sanitize.js';
import { type DsnKind, dsnTemplate } from './templates.js';
import type { DsnAction, DsnInput, DsnRecipientReport } from './types.js';

export type { DsnKind } from './templates.js';

const ACTIONS: ReadonlySet<string> = new Set<DsnAction>(['failed', 'delayed', 'delivered', 'relayed', 'expanded']);
// RFC 3463 §2: class "." subject "." detail, subject and detail 1 to 3 digits.
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;
// Longest encoded field value: with the field name it stays well under 998 octets.
const MAX_FIELD_VALUE = 900;

/**
 * Which notice the recipients make: "failure" if any recipient failed, else "delay" if any is
 * delayed, else "success" (delivered, relayed, expanded). The caller sends one notice per kind;
 * a notice with mixed actions is still well-formed (RFC 3464 allows it): every recipient gets
 * its own block, and the human text a section per action.
 */
export function dsnKind(recipients: ReadonlyArray<Pick<DsnRecipientReport, 'action'>>): DsnKind {
  if (recipients.some((r) => r.action === 'failed')) return 'failure';
  if (recipients.some((r) => r.action === 'delayed')) return 'delay';
  return 'success';
}

/** The notice, ready for spool.enqueue() with the null reverse-path. */
export function buildDsn(input: DsnInput): Buffer {
  if (!Array.isArray(input.recipients) || input.recipients.length === 0) {
    throw new TypeError('a DSN needs at least one recipient (RFC 3464 §2: 1*per-recipient-fields)');
  }
  for (const r of input.recipients) {
    if (!ACTIONS.has(r.action)) throw new TypeError(`unknown DSN action ${JSON.stringify(r.action)}`);
  }
  const kind = dsnKind(input.recipients);
  const host = hostName(input.reportingMta);
  const returned = returnedContent(input.original, input.ret === 'FULL' ? 'FULL' : 'HDRS');
  const returnedBody = returned.type === 'text/rfc822-headers' ? endWithCrlf(returned.content) : returned.content;

  const human = renderHumanText(input, {
    kind,
    host,
    originalSubject: originalSubject(input.original),
    returned: returned.type,
  });
  const language = /^[a-z]{2,8}$/.test(input.language) ? input.language : null;
  const part1 =
    'Content-Description: Notification\r\n' +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    (language ? `Content-Language: ${language}\r\n` : '') +
    'Content-Transfer-Encoding: quoted-printable\r\n' +
    '\r\n' +
    encodeQuotedPrintable(human);

  const part2 =
    'Content-Description: Delivery report\r\n' +
    'Content-Type: message/delivery-status\r\n' +
    '\r\n' +
    deliveryStatus(input, host);

  const description = RETURNED_DESCRIPTION[kind] + (returned.type === 'text/rfc822-headers' ? ' Headers' : '');
  const part3Head = Buffer.from(
    `Content-Description: ${description}\r\n` +
      `Content-Type: ${returned.type}\r\n` +
      (returned.encoding === '8bit' ? 'Content-Transfer-Encoding: 8bit\r\n' : '') +
      '\r\n',
    'latin1',
  );

  const boundary = pickBoundary([Buffer.from(part1, 'latin1'), Buffer.from(part2, 'latin1'), returnedBody]);
  const t = dsnTemplate(input.language);
  const headers = [
    header('Date', formatRfc5322Date(new Date(input.now))),
    header('From', `"Mail Delivery System" <MAILER-DAEMON@${host}>`),
    header('To', toField(input.to)),
    // RFC 2047 §2: a line with encoded-words is at most 76 characters.
    header('Subject', encodeHeaderWords(t.subject[kind], 76 - 'Subject: '.length), 76),
    header('Message-ID', generateMessageId(host)),
    // RFC 3834 §5: a DSN is an automatic response; mail systems must not answer it.
    header('Auto-Submitted', 'auto-replied'),
    header('MIME-Version', '1.0'),
    // RFC 6522 §3: multipart/report with the report-type of the second part.
    header('Content-Type', `multipart/report; report-type=delivery-status; boundary="${boundary}"`),
    // RFC 2045 §6.4: a multipart entity is 7bit unless a part in it is 8bit.
    header('Content-Transfer-Encoding', returned.encoding),
  ].join('');

  const delimiter = `\r\n--${boundary}\r\n`;
  const preamble = '\r\nThis is a MIME-encapsulated message.\r\n';
  return Buffer.concat([
    Buffer.from(headers + preamble + delimiter + part1 + delimiter + part2 + delimiter, 'latin1'),
    part3Head,
    returnedBody,
    Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1'),
  ]);
}

const RETURNED_DESCRIPTION: Record<DsnKind, string> = {
  failure: 'Undelivered Message',
  delay: 'Delayed Message',
  success: 'Delivered Message',
};

/**
 * The message/delivery-status body (RFC 3464 §2.2, §2.3): the per-message block, then one
 * block per recipient, separated by empty lines. Fields appear in the order of the ABNF.
 */
function deliveryStatus(input: DsnInput, host: string): string {
  const perMessage: string[] = [];
  if (input.envid !== null && input.envid !== undefined && input.envid !== '') {
    // RFC 3464 §2.2.1 / RFC 3461 §4.4: the ENVID, xtext-encoded as on the wire.
    perMessage.push(field('Original-Envelope-Id', capEncoded(encodeXtext(wellFormed(input.envid)), MAX_FIELD_VALUE)));
  }
  perMessage.push(field('Reporting-MTA', `dns; ${host}`));
  perMessage.push(field('Arrival-Date', formatRfc5322Date(new Date(input.arrivalDate))));
  // Extension fields (RFC 3464 §2.4), as Postfix's X-Postfix-Queue-ID / X-Postfix-Sender.
  const queueId = safeHost(input.queueId).slice(0, 100);
  if (queueId) perMessage.push(field('X-Posta-Queue-ID', queueId));
  if (input.originalSender) perMessage.push(field('X-Posta-Sender', addressValue(input.originalSender)));

  const blocks = [perMessage.join('')];
  for (const r of input.recipients) blocks.push(recipientBlock(r));
  return blocks.join('\r\n');
}

function recipientBlock(r: DsnRecipientReport): string {
  const lines: string[] = [];
  // RFC 3464 §2.3.1: only when the client gave ORCPT (RFC 3461 §4.2).
  if (r.originalRecipient) lines.push(field('Original-Recipient', orcptValue(r.originalRecipient)));
  lines.push(field('Final-Recipient', addressValue(r.finalRecipient)));
  lines.push(field('Action', r.action));
  lines.push(field('Status', STATUS.test(r.status) ? r.status : defaultStatus(r.action)));
  const remote = safeHost(r.remoteMta);
  if (remote) lines.push(field('Remote-MTA', `dns; ${remote}`));
  // RFC 3464 §2.3.6: "smtp" only for an SMTP reply; our own words get our own type, as
  // Postfix's "X-Postfix;".
  const reply = joinReply(r.diagnostic, { ascii: true, max: MAX_DIAGNOSTIC });
  if (reply) lines.push(field('Diagnostic-Code', `${isSmtpReply(reply) ? 'smtp' : 'X-Posta'}; ${reply}`));
  if (isTime(r.lastAttemptAt)) lines.push(field('Last-Attempt-Date', formatRfc5322Date(new Date(r.lastAttemptAt))));
  // RFC 3464 §2.3.9: Will-Retry-Until only for "delayed".
  if (r.action === 'delayed' && isTime(r.willRetryUntil)) {
    lines.push(field('Will-Retry-Until', formatRfc5322Date(new Date(r.willRetryUntil))));
  }
  return lines.join('');
}

/** A status that fits the action, for a caller that passed none or a malformed one. */
function defaultStatus(action: DsnAction): string {
  if (action === 'failed') return '5.0.0';
  if (action === 'delayed') return '4.0.0';
  return '2.0.0';
}

function isTime(t: number | null | undefined): t is number {
  return typeof t === 'number' && Number.isFinite(t);
}

/**
 * An address as address-type ";" generic-address (RFC 3464 §2.3.2). ASCII addresses are
 * `rfc822; local@domain`, as they are. A non-ASCII address (SMTPUTF8) uses the RFC 6533 §3
 * "utf-8" type in its 7-bit utf-8-addr-xtext form, because message/delivery-status is 7-bit.
 */
function addressValue(address: string): string {
  const a = stripControls(address);
  if (/^[\x20-\x7e]*$/.test(a)) return `rfc822; ${a.trim() ? capEncoded(a.trim(), MAX_FIELD_VALUE) : 'unknown'}`;
  return `utf-8; ${capEncoded(encodeUtf8AddrXtext(a), MAX_FIELD_VALUE)}`;
}

/**
 * Original-Recipient: the ORCPT again, as the client could send it (RFC 3461 §4.2): the
 * address xtext-encoded under its addr-type, or for "utf-8" (and any non-ASCII address, which
 * "rfc822" cannot carry) the RFC 6533 §3 utf-8-addr-xtext form.
 */
function orcptValue(orcpt: { addrType: string; address: string }): string {
  // addr-type = atom (RFC 3461 §4.2)
  const type = String(orcpt.addrType ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9!#$%&'*+\-/=?^_`{|}~]/g, '')
    .slice(0, 64);
  const a = stripControls(String(orcpt.address ?? ''));
  if (type === 'utf-8' || /[^\x00-\x7f]/.test(a)) {
    return `utf-8; ${capEncoded(encodeUtf8AddrXtext(a), MAX_FIELD_VALUE)}`;
  }
  return `${type || 'rfc822'}; ${capEncoded(encodeXtext(a), MAX_FIELD_VALUE)}`;
}

function stripControls(s: string): string {
  return wellFormed(s).replace(/[\x00-\x1f\x7f-\x9f]/g, '');
}

/**
 * The To field: the address as an RFC 5322 addr-spec with an A-label domain. An address that
 * does not parse, or whose local part is not ASCII (a 7-bit header cannot carry it, RFC 6532
 * would need UTF-8 headers), becomes the empty group `undisclosed-recipients:;` — the
 * envelope still takes the notice to the right place.
 */
function toField(to: string): string {
  const raw = typeof to === 'string' ? to.trim().replace(/^<(.*)>$/, '$1') : '';
  try {
    const addr = formatMailbox(parseMailbox(raw, { allowUtf8: true }));
    if (/^[\x20-\x7e]+$/.test(addr)) return addr;
  } catch {
    // not an address: fall through
  }
  return 'undisclosed-recipients:;';
}

/** Our host name for From, Message-ID, Reporting-MTA and the text: an A-label, or a safe fallback. */
function hostName(name: string): string {
  try {
    return normalizeDomain(name);
  } catch {
    const cleaned = safeHost(name).replace(/[^A-Za-z0-9.-]/g, '');
    return cleaned || 'localhost';
  }
}

/** One header field, folded (RFC 5322 §2.2.3), with its CRLF. */
function header(name: string, value: string, limit = 78): string {
  return foldHeaderLine(`${name}: ${value}`, limit) + '\r\n';
}

/** One delivery-status field: the same syntax as a header field (RFC 3464 §2.1). */
function field(name: string, value: string): string {
  return header(name, safeText(value));
}

/**
 * A random boundary (RFC 2046 §5.1.1). "=_" can occur neither in quoted-printable nor in base64
 * text; the returned original is checked anyway, and a new boundary drawn on a (vanishingly
 * unlikely) hit.
 */
function pickBoundary(contents: Buffer[]): string {
  for (;;) {
    const boundary = `=_posta_${randomBytes(18).toString('base64url')}`;
    const needle = Buffer.from(`--${boundary}`, 'latin1');
    if (!contents.some((c) => c.includes(needle))) return boundary;
  }
}
