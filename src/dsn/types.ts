/**
 * Inputs of a delivery status notification (RFC 3464, with RFC 3461 semantics).
 */
import type { DsnLanguage } from '../config/index.js';

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipientReport {
  /** The address we tried to deliver to (Final-Recipient: rfc822;...). */
  finalRecipient: string;
  /** From ORCPT, when the client gave one (Original-Recipient). */
  originalRecipient: { addrType: string; address: string } | null;
  action: DsnAction;
  /** RFC 3463 code, e.g. "5.1.1", "4.4.1", "2.0.0". */
  status: string;
  /** The host that answered, or null (Remote-MTA: dns;...). */
  remoteMta: string | null;
  /** The remote reply on one line, e.g. "550 5.1.1 user unknown" (Diagnostic-Code: smtp;...). */
  diagnostic: string | null;
  lastAttemptAt: number | null;
  /** For "delayed": until when we keep trying (Will-Retry-Until). */
  willRetryUntil: number | null;
}

export interface DsnInput {
  /** Our hostname: Reporting-MTA, the From address MAILER-DAEMON@hostname, Message-ID domain. */
  reportingMta: string;
  language: DsnLanguage;
  /** Where the notice goes: the original reverse-path (or postmaster for a double bounce). */
  to: string;
  /** The original message's queue id, for the human-readable text and X-Postfix-style tracing. */
  queueId: string;
  /** The original envelope sender ("" for <>). */
  originalSender: string;
  /** ENVID of the original message (Original-Envelope-Id), decoded. */
  envid: string | null;
  arrivalDate: number;
  recipients: DsnRecipientReport[];
  /** The whole original message as received (with our Received header). */
  original: Buffer;
  /** RET: FULL returns the message (message/rfc822), HDRS only its header (text/rfc822-headers). */
  ret: 'FULL' | 'HDRS';
  now: number;
}
