/**
 * What routing (RFC 5321 §5.1) tells delivery: the hosts to try in order, or why there are none.
 */

/** One host to try, with its addresses in the order to dial them. */
export interface MailHost {
  /** The MX exchange name (or the domain itself for an implicit MX, or the smarthost name). */
  name: string;
  /** MX preference; 0 for an implicit MX or a smarthost. */
  preference: number;
  /** IPv4 and IPv6 addresses as text. Empty when the name had no address records. */
  addresses: string[];
}

export type Route =
  /** Hosts in the order to try them: by preference, equal preferences shuffled. */
  | { kind: 'hosts'; hosts: MailHost[] }
  /**
   * No host to try. permanent: NXDOMAIN, null MX (RFC 7505, 5.1.10), MX pointing only at
   * ourselves (5.4.6). Temporary: SERVFAIL, timeouts, refused queries (4.4.3).
   */
  | { kind: 'error'; permanent: boolean; enhancedCode: string; text: string };

export interface MailRouter {
  /** The hosts that receive mail for `domain` (a lowercase A-label). Never throws. */
  route(domain: string): Promise<Route>;
  /** The addresses of one named host (a smarthost): A/AAAA, or the IP itself. Never throws. */
  routeToHost(hostname: string): Promise<Route>;
}
