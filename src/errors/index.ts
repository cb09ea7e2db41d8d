/**
 * Error types shared by every layer (DESIGN.md §5).
 * Protocol rejections carry a public text that never leaks internals; the cause goes to the log.
 */

/** An SMTP reply that rejects a command: `code enhancedCode publicText`. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  constructor(
    readonly code: number,
    readonly enhancedCode: string,
    readonly publicText: string,
    options?: { cause?: unknown },
  ) {
    // smtp-server writes `responseCode message`; our send hook sees the leading
    // enhanced code and does not add the library's generic one (src/smtp/connection-hooks.ts).
    super(`${enhancedCode} ${publicText}`, options);
    this.name = 'SmtpReplyError';
    this.responseCode = code;
  }
}

/** A config file problem. `key` is the dotted path of the offending key. */
export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(key ? `config: ${key}: ${message}` : `config: ${message}`);
    this.name = 'ConfigError';
  }
}

/** A user mistake at the CLI or admin API: the message says what to do instead. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly code = 'usage',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A named record was not found (domain, user, alias, queue entry). */
export class NotFoundError extends UsageError {
  constructor(message: string) {
    super(message, 'not_found');
    this.name = 'NotFoundError';
  }
}

/** A record already exists. */
export class ConflictError extends UsageError {
  constructor(message: string) {
    super(message, 'conflict');
    this.name = 'ConflictError';
  }
}
