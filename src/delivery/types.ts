/**
 * Remote delivery's inputs and outputs. Outcomes are values, never exceptions (DESIGN.md §5).
 */
import type { EnvelopeDsn, IncomingMessage, RecipientDsn } from '../store/types.js';

/** One message's recipients at one destination, delivered in one SMTP transaction. */
export interface OutboundEnvelope {
  /** "" for the null reverse-path <>. */
  reversePath: string;
  recipients: Array<{ forwardPath: string; notify: RecipientDsn['notify']; orcpt: RecipientDsn['orcpt'] }>;
  /** envid is stored decoded; it is xtext-encoded again on the wire (RFC 3461 §4.4). */
  dsn: EnvelopeDsn;
  bodyType: IncomingMessage['bodyType'];
  smtpUtf8: boolean;
  size: number;
}

export type DeliveryStatus = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  forwardPath: string;
  status: DeliveryStatus;
  /**
   * The reply that decided it, on one line: "550 5.1.1 <x@y>: user unknown" from the peer,
   * or our own words for local decisions ("connection refused", "4.4.1 ...").
   */
  reply: string;
  /** RFC 3463 status code, e.g. "5.1.1"; derived from the basic code when the peer sent none. */
  enhancedCode: string;
  /** Name of the remote host that gave the reply, or null when none was reached. */
  remoteMta: string | null;
  /** The peer took our DSN parameters (it advertised DSN); false → NOTIFY=SUCCESS yields "relayed". */
  remoteDsn: boolean;
}

export interface DeliveryReport {
  outcomes: RecipientOutcome[];
  /** The host and address that gave the final answer (or the last one tried). */
  host: string | null;
  ip: string | null;
  /** The SMTP dialogue of the attempt, "C: ..." / "S: ..." lines, kept when something was not delivered. */
  transcript: string[];
}
