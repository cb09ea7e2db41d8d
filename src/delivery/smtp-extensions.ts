/**
 * What a server offers in its EHLO reply (RFC 5321 §4.1.1.1), and the MAIL and RCPT
 * commands we send it for one envelope: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8
 * (RFC 6531), DSN (RFC 3461) — each parameter only when the server offered its extension.
 * Pure: no I/O.
 */
import { encodeUtf8AddrXtext, encodeXtext } from '../mail/address.js';
import type { SmtpReply } from './smtp-reply.js';

export interface PeerExtensions {
  /** The server answered EHLO (false after a HELO fallback: no extensions at all). */
  esmtp: boolean;
  pipelining: boolean;
  /** null: no SIZE; 0: SIZE without a fixed limit; n: the largest message it takes. */
  size: number | null;
  eightBitMime: boolean;
  smtpUtf8: boolean;
  dsn: boolean;
  enhancedStatusCodes: boolean;
  startTls: boolean;
  /** Upper-case SASL mechanisms offered, or null when AUTH is not offered. */
  auth: string[] | null;
}

export const NO_EXTENSIONS: PeerExtensions = {
  esmtp: false,
  pipelining: false,
  size: null,
  eightBitMime: false,
  smtpUtf8: false,
  dsn: false,
  enhancedStatusCodes: false,
  startTls: false,
  auth: null,
};

/** Reads the extension lines of a 250 EHLO reply (every line after the first). */
export function parseEhloReply(reply: SmtpReply): PeerExtensions {
  const ext: PeerExtensions = { ...NO_EXTENSIONS, esmtp: true };
  for (let i = 1; i < reply.lines.length; i++) {
    // ehlo-line = ehlo-keyword *( SP / "=" ehlo-param ); "AUTH=LOGIN" is an old form some servers still send.
    const words = reply.lines[i].trim().split(/[ =]+/);
    const keyword = words[0].toUpperCase();
    switch (keyword) {
      case 'PIPELINING':
        ext.pipelining = true;
        break;
      case 'SIZE': {
        // RFC 1870 §4: "SIZE" [SP number]; 0 or no number means no fixed maximum.
        const n = words.length > 1 && /^\d{1,15}$/.test(words[1]) ? Number(words[1]) : 0;
        ext.size = n;
        break;
      }
      case '8BITMIME':
        ext.eightBitMime = true;
        break;
      case 'SMTPUTF8':
        ext.smtpUtf8 = true;
        break;
      case 'DSN':
        ext.dsn = true;
        break;
      case 'ENHANCEDSTATUSCODES':
        ext.enhancedStatusCodes = true;
        break;
      case 'STARTTLS':
        ext.startTls = true;
        break;
      case 'AUTH': {
        const mechanisms = words.slice(1).map((w) => w.toUpperCase());
        ext.auth = [...new Set([...(ext.auth ?? []), ...mechanisms])];
        break;
      }
      default:
        break;
    }
  }
  return ext;
}

/** What MAIL needs to know about the message, a subset of OutboundEnvelope. */
export interface MailCommandInput {
  reversePath: string;
  bodyType: '7bit' | '8bitmime' | 'binarymime' | null;
  smtpUtf8: boolean;
  dsn: { ret: 'FULL' | 'HDRS' | null; envid: string | null };
}

/** The MAIL command line (without CRLF) for this server. `size` is the message size in octets. */
export function mailCommand(input: MailCommandInput, size: number, ext: PeerExtensions): string {
  let line = `MAIL FROM:<${input.reversePath}>`;
  // RFC 1870 §6: the declared size lets the server refuse early.
  if (ext.size !== null) line += ` SIZE=${size}`;
  // RFC 6152 §3. To a server without 8BITMIME the message goes out unchanged, as sendmail
  // does by default (EightBitMode=pass8). Postfix converts to quoted-printable instead
  // (disable_mime_output_conversion=no); we don't: almost every server takes 8-bit data,
  // and a conversion would break DKIM signatures. BINARYMIME needs CHUNKING (RFC 3030),
  // which we never receive; should such a body appear, it goes out as 8BITMIME.
  if ((input.bodyType === '8bitmime' || input.bodyType === 'binarymime') && ext.eightBitMime) line += ' BODY=8BITMIME';
  // RFC 6531 §3.4: SMTPUTF8 only to a server that offered it.
  if (input.smtpUtf8 && ext.smtpUtf8) line += ' SMTPUTF8';
  if (ext.dsn) {
    // RFC 3461 §4.3 / §4.4; ENVID is stored decoded and goes out as xtext.
    if (input.dsn.ret) line += ` RET=${input.dsn.ret}`;
    if (input.dsn.envid) line += ` ENVID=${encodeXtext(input.dsn.envid)}`;
  }
  return line;
}

export interface RcptCommandInput {
  forwardPath: string;
  notify: Array<'NEVER' | 'SUCCESS' | 'FAILURE' | 'DELAY'> | null;
  orcpt: { addrType: string; address: string } | null;
}

/** The RCPT command line (without CRLF); DSN parameters per recipient (RFC 3461 §4.1, §4.2). */
export function rcptCommand(input: RcptCommandInput, ext: PeerExtensions): string {
  let line = `RCPT TO:<${input.forwardPath}>`;
  if (ext.dsn) {
    if (input.notify && input.notify.length > 0) line += ` NOTIFY=${input.notify.join(',')}`;
    if (input.orcpt) line += ` ORCPT=${encodeOrcpt(input.orcpt)}`;
  }
  return line;
}

/**
 * RFC 3461 §4.2 ORCPT value `addr-type ";" xtext`. A "utf-8" address uses RFC 6533 §3
 * utf-8-addr-xtext (pure ASCII, `\x{HEX}` escapes), which every server can take.
 */
export function encodeOrcpt(orcpt: { addrType: string; address: string }): string {
  const type = orcpt.addrType.toLowerCase();
  if (type === 'utf-8') return `utf-8;${encodeUtf8AddrXtext(orcpt.address)}`;
  return `${type};${encodeXtext(orcpt.address)}`;
}

export { encodeUtf8AddrXtext };

/** True if the text has any non-ASCII character. */
export function hasNonAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return true;
  return false;
}
