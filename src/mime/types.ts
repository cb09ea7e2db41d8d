/**
 * The MIME structure of a stored message, parsed once at delivery (DESIGN.md §4) so that
 * IMAP FETCH and SEARCH never parse a whole message again.
 */

/**
 * An IMAP-shaped value (RFC 9051 §4): NIL, a string (the formatter picks quoted or
 * literal), a number, or a parenthesized list. ENVELOPE and BODYSTRUCTURE are built as
 * these, so the IMAP formatter only has to write them out.
 */
export type ImapSexp = null | string | number | ImapSexp[];

/** One MIME entity, with byte offsets into the whole message (for BODY[section] FETCH). */
export interface MimePart {
  /** IMAP part number: "" for the whole message, "1", "1.2", ... (RFC 9051 §6.4.5). */
  part: string;
  /** Offsets of this entity's header section (including the empty line) and of its body. */
  headerStart: number;
  headerEnd: number;
  bodyStart: number;
  bodyEnd: number;
  /** Lowercase type and subtype ("text", "plain"); defaults per RFC 2045 §5.2. */
  type: string;
  subtype: string;
  /** Content-Type parameters, names lowercase, RFC 2231 continuations and charsets decoded. */
  params: Record<string, string>;
  /** Content-Transfer-Encoding, lowercase ("7bit" when absent). */
  encoding: string;
  /** Child entities of a multipart, or the one encapsulated message of message/rfc822. */
  children: MimePart[];
}
