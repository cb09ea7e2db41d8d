/**
 * Types of the parsed MIME tree, beyond the shared MimePart (types.ts): what a fresh parse
 * knows about each entity so ENVELOPE and BODYSTRUCTURE can be built without re-reading
 * the message. Only the parser creates these; FETCH and SEARCH work on plain MimePart.
 */
import type { MimePart } from './types.js';

/** Content-* header data of one entity, as BODYSTRUCTURE shows it (case preserved, RFC 2231 merged). */
export interface ContentFields {
  /** Type and subtype as written; null when defaulted (RFC 2045 §5.2) or when the header was unusable. */
  type: string | null;
  subtype: string | null;
  /** Parameters in BODYSTRUCTURE order: plain ones as written, then RFC 2231 ones merged (see content-type.ts). */
  params: Array<[string, string]>;
  /** The Content-Transfer-Encoding token as written, or null (→ "7bit"). */
  encoding: string | null;
  /** Raw unfolded values (RFC 2045 §7, §8; RFC 1864; RFC 2557 §4.2), encoded words kept. */
  id: string | null;
  description: string | null;
  md5: string | null;
  location: string | null;
  /** RFC 2183 disposition type and its parameters. */
  disposition: { type: string; params: Array<[string, string]> } | null;
  /** RFC 3282 language tags. */
  language: string[] | null;
}

/**
 * The header fields ENVELOPE is made of (RFC 9051 §7.5.2), first occurrence of each, unfolded,
 * as strings of the raw bytes (UTF-8 when valid, else ISO-8859-1; see header-fields.ts).
 * Present on message entities only: the top level and each encapsulated message.
 */
export interface EnvelopeFields {
  date: string | null;
  subject: string | null;
  from: string | null;
  sender: string | null;
  replyTo: string | null;
  to: string | null;
  cc: string | null;
  bcc: string | null;
  inReplyTo: string | null;
  messageId: string | null;
  references: string | null;
}

/** An envelope with no header fields at all (a message/rfc822 part with an empty body). */
export function emptyEnvelopeFields(): EnvelopeFields {
  return { date: null, subject: null, from: null, sender: null, replyTo: null, to: null, cc: null, bcc: null, inReplyTo: null, messageId: null, references: null };
}

/** One entity of a freshly parsed message. */
export interface MimeNode extends MimePart {
  children: MimeNode[];
  /** body-fld-lines (RFC 9051 §7.5.2): LF count of the body; set for text/* and message/rfc822|global. */
  lines: number;
  content: ContentFields;
  /** Non-null on message entities (the top level, and the child of each message/rfc822 part). */
  envelope: EnvelopeFields | null;
}

/** The result of parseMimeStructure. */
export interface MimeStructure {
  root: MimeNode;
  /** Entities created (the root included). */
  partCount: number;
  /** True when maxDepth or maxParts cut the structure short (the rest became opaque text). */
  limitsHit: boolean;
}
