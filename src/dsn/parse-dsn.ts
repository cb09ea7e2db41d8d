/**
 * Parse a delivery status notification (RFC 6522 multipart/report, RFC 3464
 * message/delivery-status) into its fields: for tests that check our notices field by field,
 * and later for DSNs we receive.
 *
 * Strict by default: anything buildDsn must never produce (bare CR or LF, lines over 998
 * octets, 8-bit header text, duplicate fields, a missing report part or a missing required
 * field) throws DsnParseError with a clear message. `{ strict: false }` accepts LF line ends
 * and what real-world DSNs get wrong, but still throws when there is no report part.
 *
 * Field names are case-insensitive (RFC 5322 §1.2.2): all keys are lower case,
 * e.g. `perRecipient[0]['final-recipient']`. Values are unfolded (RFC 5322 §2.2.3: CRLF
 * removed) and trimmed, otherwise as they are in the message (not decoded).
 */
import { decodeXtext, parseOrcpt } from '../mail/address.js';
import { decodeEncodedWords, decodeQuotedPrintable } from './mime-encoding.js';

export class DsnParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DsnParseError';
  }
}

export interface ParsedDsn {
  /**
   * The message's header fields, lower-case names, unfolded values. A field that may appear
   * more than once (Received, say) has its values joined with "\n"; in strict mode the fields
   * RFC 5322 §3.6 allows only once must appear only once.
   */
  headers: Record<string, string>;
  /** The Subject with RFC 2047 words decoded ('' when there is none). */
  subject: string;
  /** The report-type parameter, lower case ("delivery-status"). */
  reportType: string;
  /** The first part, decoded to text (CRLF line ends as in the message). */
  humanText: string;
  /** The per-message fields (RFC 3464 §2.2). */
  perMessage: Record<string, string>;
  /** One record per recipient block (RFC 3464 §2.3), in order. */
  perRecipient: Array<Record<string, string>>;
  /**
   * The third part, when there is one. `content` is the decoded part read as UTF-8; `bytes`
   * is exactly what the part holds (decoded from base64 or quoted-printable if it was).
   */
  returned: { type: 'message/rfc822' | 'text/rfc822-headers'; content: string; bytes: Buffer } | null;
}

export interface ParseDsnOptions {
  /** Default true; see the module comment. */
  strict?: boolean;
}

interface Field {
  name: string;
  value: string;
}

interface Entity {
  fields: Field[];
  /** The body, as a latin1 string (one character per octet). */
  body: string;
}

// RFC 5322 §3.6: fields that appear at most once.
const UNIQUE_HEADERS = new Set([
  'date',
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'bcc',
  'message-id',
  'in-reply-to',
  'references',
  'subject',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'auto-submitted',
]);
const ACTIONS = new Set(['failed', 'delayed', 'delivered', 'relayed', 'expanded']);
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** Parse a DSN. Throws DsnParseError when the message is not a well-formed delivery report. */
export function parseDsn(message: Buffer | string, options: ParseDsnOptions = {}): ParsedDsn {
  const strict = options.strict !== false;
  let raw = (Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8')).toString('latin1');
  if (strict) checkLines(raw, 'message');
  else raw = raw.replace(/\r\n|\r|\n/g, '\r\n');

  const top = parseEntity(raw, 'message header', strict);
  if (strict && top.fields.some((f) => /[^\x00-\x7f]/.test(f.value))) {
    throw new DsnParseError('8-bit characters in the message header (RFC 5322 §2.2: header text is US-ASCII)');
  }
  const headers = headerRecord(top.fields, strict);
  if (strict && headers['mime-version'] === undefined) throw new DsnParseError('no MIME-Version header field');

  const ct = parseContentType(headers['content-type'] ?? 'text/plain');
  if (ct.type !== 'multipart/report') {
    throw new DsnParseError(`not a multipart/report message (Content-Type: ${ct.type})`);
  }
  const reportType = (ct.params['report-type'] ?? '').toLowerCase();
  if (!reportType) throw new DsnParseError('multipart/report without a report-type parameter (RFC 6522 §3)');
  if (strict && reportType !== 'delivery-status') {
    throw new DsnParseError(`report-type is ${JSON.stringify(reportType)}, not "delivery-status"`);
  }
  const boundary = ct.params.boundary;
  if (!boundary) throw new DsnParseError('multipart/report without a boundary parameter (RFC 2046 §5.1.1)');

  const parts = splitMultipart(top.body, boundary, strict).map((p, i) =>
    parseEntity(p, `part ${i + 1} header`, strict),
  );
  if (parts.length === 0) throw new DsnParseError('multipart/report with no parts');

  const types = parts.map((p) => parseContentType(fieldValue(p, 'content-type') ?? 'text/plain'));
  const reportIndex = types.findIndex(
    (t) => t.type === 'message/delivery-status' || t.type === 'message/global-delivery-status',
  );
  if (reportIndex < 0) {
    throw new DsnParseError('no message/delivery-status part: this is not a delivery status notification');
  }
  if (strict && reportIndex !== 1) {
    throw new DsnParseError(
      `the message/delivery-status part is part ${reportIndex + 1}, not the second (RFC 6522 §3)`,
    );
  }
  if (strict && !types[0].type.startsWith('text/')) {
    throw new DsnParseError(`the first part is ${types[0].type}, not human-readable text (RFC 6522 §3)`);
  }
  if (strict && parts.length > 3) {
    throw new DsnParseError(`${parts.length} parts; a report has at most 3 (RFC 6522 §3)`);
  }

  const humanText = decodeText(parts[0], types[0]);

  const reportBytes = decodeBody(parts[reportIndex]);
  const global = types[reportIndex].type === 'message/global-delivery-status';
  if (strict && !global && reportBytes.some((b) => b >= 0x80)) {
    throw new DsnParseError(
      '8-bit characters in message/delivery-status (RFC 3464 §2.1: US-ASCII; RFC 6533 uses message/global-delivery-status)',
    );
  }
  const reportText = global ? reportBytes.toString('utf8') : reportBytes.toString('latin1');
  const { perMessage, perRecipient } = parseDeliveryStatus(reportText, strict);

  let returned: ParsedDsn['returned'] = null;
  const third = reportIndex + 1 < parts.length ? reportIndex + 1 : -1;
  if (third >= 0) {
    const type = types[third].type;
    if (type === 'message/rfc822' || type === 'text/rfc822-headers') {
      const bytes = decodeBody(parts[third]);
      returned = { type, content: bytes.toString('utf8'), bytes };
    } else if (strict) {
      throw new DsnParseError(`the returned part is ${type}, not message/rfc822 or text/rfc822-headers`);
    }
  }

  const subject = decodeEncodedWords(headers.subject ?? '');
  return { headers, subject, reportType, humanText, perMessage, perRecipient, returned };
}

/** RFC 5322 §2.1 / §2.1.1: CRLF only, no NUL, lines at most 998 octets. */
function checkLines(raw: string, what: string): void {
  const bad = /\r(?!\n)|(?<!\r)\n|\x00/.exec(raw);
  if (bad) {
    const name = bad[0] === '\x00' ? 'NUL' : bad[0] === '\r' ? 'bare CR' : 'bare LF';
    throw new DsnParseError(`${name} in the ${what} at offset ${bad.index}`);
  }
  let start = 0;
  let line = 1;
  while (start <= raw.length) {
    let end = raw.indexOf('\r\n', start);
    if (end < 0) end = raw.length;
    if (end - start > 998) {
      throw new DsnParseError(`line ${line} of the ${what} is ${end - start} octets long (RFC 5322 §2.1.1: at most 998)`);
    }
    start = end + 2;
    line++;
  }
}

/** Split an entity at its first empty line and parse the header fields (RFC 5322 §2.2). */
function parseEntity(text: string, what: string, strict: boolean): Entity {
  let headerText: string;
  let body: string;
  if (text.startsWith('\r\n')) {
    headerText = '';
    body = text.slice(2);
  } else {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) {
      if (strict) throw new DsnParseError(`the ${what} has no empty line after it`);
      headerText = text.endsWith('\r\n') ? text.slice(0, -2) : text;
      body = '';
    } else {
      headerText = text.slice(0, end);
      body = text.slice(end + 4);
    }
  }
  return { fields: parseFields(headerText === '' ? [] : headerText.split('\r\n'), what, strict), body };
}

/** Header-style fields, unfolded. Also used for the blocks of message/delivery-status (RFC 3464 §2.1). */
function parseFields(lines: string[], what: string, strict: boolean): Field[] {
  const fields: Field[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line)) {
      // RFC 5322 §2.2.3: a continuation line; unfolding removes only the CRLF.
      const last = fields[fields.length - 1];
      if (!last) {
        if (strict) throw new DsnParseError(`the ${what} starts with a continuation line`);
        continue;
      }
      last.value += line;
      continue;
    }
    // field-name = 1*ftext (%d33-57 / %d59-126), RFC 5322 §3.6.8
    const m = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/.exec(line);
    if (!m) {
      if (strict) throw new DsnParseError(`malformed line in the ${what}: ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    fields.push({ name: m[1].toLowerCase(), value: m[2] });
  }
  for (const f of fields) f.value = f.value.trim();
  return fields;
}

function headerRecord(fields: Field[], strict: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    if (Object.hasOwn(out, f.name)) {
      if (strict && UNIQUE_HEADERS.has(f.name)) throw new DsnParseError(`duplicate ${f.name} header field`);
      out[f.name] += '\n' + f.value;
    } else {
      out[f.name] = f.value;
    }
  }
  return out;
}

function fieldValue(entity: Entity, name: string): string | undefined {
  return entity.fields.find((f) => f.name === name)?.value;
}

interface ContentType {
  type: string;
  params: Record<string, string>;
}

/** RFC 2045 §5.1 Content-Type: type "/" subtype *(";" parameter), quoted-string values. */
export function parseContentType(value: string): ContentType {
  const m = /^\s*([^\s/;]+)\s*\/\s*([^\s;]+)\s*/.exec(value);
  if (!m) throw new DsnParseError(`malformed Content-Type ${JSON.stringify(value.slice(0, 80))}`);
  const params: Record<string, string> = {};
  let rest = value.slice(m[0].length);
  for (;;) {
    const p = /^;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*))\s*/.exec(rest);
    if (!p) break;
    const name = p[1].toLowerCase();
    if (!Object.hasOwn(params, name)) params[name] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    rest = rest.slice(p[0].length);
  }
  return { type: `${m[1]}/${m[2]}`.toLowerCase(), params };
}

/**
 * The parts of a multipart body (RFC 2046 §5.1.1). A delimiter is "--boundary" at the start
 * of a line, then optional white space; the CRLF before it belongs to the delimiter. The
 * preamble and epilogue are dropped.
 */
function splitMultipart(body: string, boundary: string, strict: boolean): string[] {
  const dash = '--' + boundary;
  const parts: string[] = [];
  let partStart = -1;
  let closed = false;
  let pos = 0;
  while (pos <= body.length) {
    let end = body.indexOf('\r\n', pos);
    if (end < 0) end = body.length;
    const line = body.slice(pos, end);
    if (line.startsWith(dash)) {
      const tail = line.slice(dash.length);
      const close = /^--[ \t]*$/.test(tail);
      if (close || /^[ \t]*$/.test(tail)) {
        if (partStart >= 0) parts.push(body.slice(partStart, Math.max(partStart, pos - 2)));
        if (close) {
          closed = true;
          break;
        }
        partStart = end + 2;
      }
    }
    pos = end + 2;
  }
  if (!closed) {
    if (strict) throw new DsnParseError('the multipart/report has no closing boundary');
    if (partStart >= 0 && partStart <= body.length) parts.push(body.slice(partStart));
  }
  return parts;
}

/** The body octets after undoing the Content-Transfer-Encoding (RFC 2045 §6). */
function decodeBody(entity: Entity): Buffer {
  const cte = (fieldValue(entity, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable') return decodeQuotedPrintable(entity.body);
  if (cte === 'base64') return Buffer.from(entity.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  return Buffer.from(entity.body, 'latin1');
}

function decodeText(entity: Entity, ct: ContentType): string {
  const bytes = decodeBody(entity);
  const charset = (ct.params.charset ?? 'us-ascii').toLowerCase();
  try {
    return new TextDecoder(charset === 'us-ascii' ? 'utf-8' : charset).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/**
 * RFC 3464 §2.1: delivery-status-content = per-message-fields 1*( CRLF per-recipient-fields ).
 * Blocks are separated by empty lines.
 */
function parseDeliveryStatus(text: string, strict: boolean): Pick<ParsedDsn, 'perMessage' | 'perRecipient'> {
  const lines = text.split('\r\n');
  if (strict && lines[0] === '') throw new DsnParseError('message/delivery-status starts with an empty line');
  const blocks: string[][] = [];
  let cur: string[] = [];
  for (const line of lines) {
    if (line === '') {
      if (cur.length > 0) blocks.push(cur);
      cur = [];
    } else {
      cur.push(line);
    }
  }
  if (cur.length > 0) blocks.push(cur);
  if (blocks.length === 0) throw new DsnParseError('message/delivery-status is empty');

  const toRecord = (block: string[], what: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const f of parseFields(block, what, strict)) {
      if (Object.hasOwn(out, f.name)) {
        // Each DSN field appears at most once per block (RFC 3464 §2.2, §2.3).
        if (strict) throw new DsnParseError(`duplicate ${f.name} field in the ${what}`);
        continue;
      }
      out[f.name] = f.value;
    }
    return out;
  };
  const perMessage = toRecord(blocks[0], 'per-message fields');
  const perRecipient = blocks.slice(1).map((b, i) => toRecord(b, `recipient block ${i + 1}`));

  if (strict) {
    if (!perMessage['reporting-mta']) throw new DsnParseError('no Reporting-MTA field (RFC 3464 §2.2.2)');
    if (perMessage['final-recipient'] !== undefined) {
      throw new DsnParseError('Final-Recipient among the per-message fields: the empty line after them is missing');
    }
    if (perRecipient.length === 0) throw new DsnParseError('no per-recipient fields (RFC 3464 §2.1)');
    perRecipient.forEach((r, i) => {
      for (const name of ['final-recipient', 'action', 'status']) {
        if (!r[name]) throw new DsnParseError(`recipient block ${i + 1} has no ${name} field (RFC 3464 §2.3)`);
      }
      if (!ACTIONS.has(r.action.toLowerCase())) {
        throw new DsnParseError(`recipient block ${i + 1}: unknown action ${JSON.stringify(r.action)}`);
      }
      if (!STATUS.test(r.status.replace(/\s*\(.*\)$/, ''))) {
        throw new DsnParseError(`recipient block ${i + 1}: malformed status ${JSON.stringify(r.status)} (RFC 3463)`);
      }
    });
  }
  return { perMessage, perRecipient };
}

/**
 * Read an address field (Final-Recipient, Original-Recipient, X-Posta-Sender):
 * address-type ";" generic-address. "utf-8" addresses (RFC 6533 §3) are decoded; with
 * `xtext` (Original-Recipient, which carries the ORCPT encoding, RFC 3461 §4.2) the other
 * types are xtext-decoded too. Throws DsnParseError on a malformed value.
 */
export function parseAddressField(
  value: string,
  opts: { xtext?: boolean } = {},
): { addrType: string; address: string } {
  const semi = value.indexOf(';');
  if (semi < 0) throw new DsnParseError(`address field without a type: ${JSON.stringify(value.slice(0, 80))}`);
  const addrType = value.slice(0, semi).trim().toLowerCase();
  const encoded = value.slice(semi + 1).trim();
  try {
    if (addrType === 'utf-8') return parseOrcpt(`utf-8;${encoded}`);
    return { addrType, address: opts.xtext === true ? decodeXtext(encoded) : encoded };
  } catch (err) {
    const shown = JSON.stringify(encoded.slice(0, 80));
    throw new DsnParseError(`malformed ${addrType} address ${shown}: ${(err as Error).message}`);
  }
}
