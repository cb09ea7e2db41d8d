/**
 * BODYSTRUCTURE and BODY (RFC 9051 §7.5.2, RFC 3501 §7.4.2) as ImapSexp values.
 *
 *   buildBodyStructure(node: MimeNode): ImapSexp     extensible form, from a fresh parse
 *   bodyFromBodyStructure(bs: ImapSexp): ImapSexp    the non-extensible BODY form of it
 *   imap4rev1BodyStructure(bs: ImapSexp): ImapSexp   message/global as a basic part (RFC 3501)
 *
 * Single part: `(type subtype params id description encoding size [envelope body] [lines]
 * md5 disposition language location)`; lines for text/*, envelope + body + lines for
 * message/rfc822 and message/global (RFC 9051's media-message). Multipart: `(part part ...
 * subtype params disposition language location)`. The extension fields are always all
 * present, as Dovecot sends them. Details:
 * - Type, subtype, parameter names and the encoding are shown as written (case kept);
 *   defaults are "text" "plain", "7bit". A text part without a charset parameter gets
 *   ("charset" "us-ascii") (RFC 2045 §5.2); not when it has RFC 2231 "charset*" (Dovecot
 *   adds it then too, contradicting the charset* value).
 * - Parameters: see content-type.ts (RFC 2231 sections merged, values left encoded).
 * - id, description, md5, location: raw unfolded values, encoded words kept.
 * - size: octets of the body as stored; lines: its LF count.
 * Strings are text: raw 8-bit bytes are read as UTF-8 when valid, else as ISO-8859-1.
 */
import { buildEnvelope } from './envelope.js';
import { emptyEnvelopeFields, type MimeNode } from './structure-types.js';
import type { ImapSexp } from './types.js';

function paramList(params: Array<[string, string]>): ImapSexp {
  if (params.length === 0) return null;
  const out: ImapSexp[] = [];
  for (const [k, v] of params) out.push(k, v);
  return out;
}

function extension(node: MimeNode): ImapSexp[] {
  const c = node.content;
  return [
    c.disposition === null ? null : [c.disposition.type, paramList(c.disposition.params)],
    c.language === null ? null : c.language.slice(),
    c.location,
  ];
}

function isMessageNode(node: MimeNode): boolean {
  return node.type === 'message' && node.children.length === 1;
}

/** The extensible BODYSTRUCTURE of `node` (the root for a whole message). */
export function buildBodyStructure(node: MimeNode): ImapSexp {
  const c = node.content;
  if (node.type === 'multipart') {
    const out: ImapSexp[] = node.children.map(buildBodyStructure);
    out.push(c.subtype ?? node.subtype, paramList(c.params), ...extension(node));
    return out;
  }
  const defaulted = c.type === null;
  const type = defaulted ? node.type : (c.type as string);
  const subtype = defaulted ? node.subtype : (c.subtype as string);
  const params = defaulted ? (node.type === 'text' ? [['charset', 'us-ascii'] as [string, string]] : []) : c.params.slice();
  if (node.type === 'text' && !params.some(([k]) => /^charset\*?$/i.test(k))) params.push(['charset', 'us-ascii']);
  const out: ImapSexp[] = [type, subtype, paramList(params), c.id, c.description, c.encoding ?? '7bit', node.bodyEnd - node.bodyStart];
  if (isMessageNode(node)) {
    const inner = node.children[0];
    out.push(buildEnvelope(inner.envelope ?? emptyEnvelopeFields()), buildBodyStructure(inner), node.lines);
  } else if (node.type === 'text') {
    out.push(node.lines);
  }
  out.push(c.md5, ...extension(node));
  return out;
}


function isList(x: ImapSexp): x is ImapSexp[] {
  return Array.isArray(x);
}

function lower(x: ImapSexp): string {
  return typeof x === 'string' ? x.toLowerCase() : '';
}

/** True for the single-part form of message/rfc822 or message/global (it has an envelope and a body). */
function isMessageForm(bs: ImapSexp[]): boolean {
  return lower(bs[0]) === 'message' && (lower(bs[1]) === 'rfc822' || lower(bs[1]) === 'global') && isList(bs[7]) && isList(bs[8]);
}

/** Drop the extension data: BODYSTRUCTURE → BODY (RFC 9051 §7.5.2 "BODY"). */
export function bodyFromBodyStructure(bs: ImapSexp): ImapSexp {
  if (!isList(bs) || bs.length === 0) return bs;
  if (isList(bs[0])) {
    const out: ImapSexp[] = [];
    let i = 0;
    while (i < bs.length && isList(bs[i])) out.push(bodyFromBodyStructure(bs[i++]));
    out.push(bs[i] ?? null); // the subtype
    return out;
  }
  if (isMessageForm(bs)) return [...bs.slice(0, 7), bs[7], bodyFromBodyStructure(bs[8]), bs[9]];
  return bs.slice(0, lower(bs[0]) === 'text' ? 8 : 7);
}

/**
 * RFC 3501 knows message/rfc822 only as an encapsulating type; an IMAP4rev1 client would
 * misparse message/global in that form, so it gets the basic form there (as Dovecot sends it).
 */
export function imap4rev1BodyStructure(bs: ImapSexp): ImapSexp {
  if (!isList(bs) || bs.length === 0) return bs;
  if (isList(bs[0])) {
    const out = bs.slice();
    for (let i = 0; i < out.length && isList(out[i]); i++) out[i] = imap4rev1BodyStructure(out[i]);
    return out;
  }
  if (isMessageForm(bs)) {
    if (lower(bs[1]) === 'global') return [...bs.slice(0, 7), ...bs.slice(10)];
    return [...bs.slice(0, 8), imap4rev1BodyStructure(bs[8]), ...bs.slice(9)];
  }
  return bs;
}
