/**
 * The one error the IMAP protocol layer throws for bad client input (DESIGN.md §7: a parser
 * never throws anything else). It carries what the server needs to answer:
 *
 *   `<tag> BAD <message>`            status 'BAD', tag known
 *   `* BAD <message>`                tag null: the tag itself could not be read (RFC 9051 §7.1.3)
 *   `<tag> NO [BADCHARSET] <message>` status 'NO' with a response code (RFC 9051 §6.4.4)
 *
 * Pure: no I/O.
 */

/** The status a rejected command is answered with. */
export type ParseErrorStatus = 'BAD' | 'NO';

export interface ParseErrorDetails {
  /** The command's tag, or null when it could not be read (answer with `* BAD`). */
  tag?: string | null;
  /** The upper-case command name ("UID FETCH" for UID forms), when it was read. */
  command?: string | null;
  /** 'BAD' for syntax (the default), 'NO' for refusals such as an unknown CHARSET. */
  status?: ParseErrorStatus;
  /** A response code atom for the answer, e.g. 'BADCHARSET', 'LIMIT', 'CLIENTBUG'. */
  code?: string | null;
  /** Byte offset in the command where the problem was found. */
  offset?: number;
  cause?: unknown;
}

/** Client input that is not a valid IMAP command (or exceeds a parser limit). */
export class ImapParseError extends Error {
  readonly tag: string | null;
  readonly command: string | null;
  readonly status: ParseErrorStatus;
  readonly code: string | null;
  readonly offset: number;

  constructor(message: string, details: ParseErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ImapParseError';
    this.tag = details.tag ?? null;
    this.command = details.command ?? null;
    this.status = details.status ?? 'BAD';
    this.code = details.code ?? null;
    this.offset = details.offset ?? 0;
  }

  /** The same error with the tag and command name filled in (where not already known). */
  withContext(tag: string | null, command: string | null): ImapParseError {
    return new ImapParseError(this.message, {
      tag: this.tag ?? tag,
      command: this.command ?? command,
      status: this.status,
      code: this.code,
      offset: this.offset,
      cause: this.cause,
    });
  }
}
