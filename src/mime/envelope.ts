/**
 * The IMAP ENVELOPE (RFC 9051 §7.5.2, RFC 3501 §7.4.2) of a message entity.
 *
 *   buildEnvelope(fields: EnvelopeFields): ImapSexp
 *
 * `(date subject from sender reply-to to cc bcc in-reply-to message-id)`:
 * - date, subject, in-reply-to, message-id: the field value unfolded and trimmed, otherwise
 *   as written (encoded words and comments included); NIL when the field is absent, "" when
 *   it is empty.
 * - address fields: lists of address structures (address-list.ts), NIL when absent or
 *   without any address. Sender and Reply-To default to From when absent or empty
 *   (RFC 9051 §7.5.2).
 * - The first of duplicate fields counts (Dovecot takes the last one, and joins the address
 *   lists of duplicate From/To/... fields).
 * Strings are text: raw 8-bit bytes are read as UTF-8 when valid, else as ISO-8859-1.
 */
import { parseAddressList } from './address-list.js';
import type { EnvelopeFields } from './structure-types.js';
import type { ImapSexp } from './types.js';

export function buildEnvelope(fields: EnvelopeFields): ImapSexp {
  const from = parseAddressList(fields.from);
  const sender = parseAddressList(fields.sender);
  const replyTo = parseAddressList(fields.replyTo);
  return [
    fields.date,
    fields.subject,
    from,
    sender ?? from,
    replyTo ?? from,
    parseAddressList(fields.to),
    parseAddressList(fields.cc),
    parseAddressList(fields.bcc),
    fields.inReplyTo,
    fields.messageId,
  ];
}
