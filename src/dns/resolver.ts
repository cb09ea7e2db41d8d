/**
 * A thin resolver over node:dns (c-ares) that honours config `dns.servers`, and the one place that
 * knows what node's DNS error codes mean for mail routing.
 */
import { promises as dnsPromises } from 'node:dns';
import { dnsServerProblem } from '../config/host-port.js';

/** One MX record as node returns it: `exchange` has no trailing dot and is '' for the root (null MX). */
export interface MxRecord {
  exchange: string;
  priority: number;
}

/**
 * The lookups mail routing needs. DnsResolver is the real one; tests may pass another object
 * (only for pure ordering tests: everything else runs against the loopback test DNS server).
 * Failures reject with node's DNS errors (an Error with `code`, e.g. 'ENOTFOUND').
 */
export interface DnsLookup {
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface DnsResolverOptions {
  /** "ip", "ip:port", "[v6]" or "[v6]:port" (config `dns.servers`); empty: the system's resolvers. */
  servers: string[];
  /** Initial per-try timeout. c-ares default (unset) is a few seconds. */
  timeoutMs?: number;
  /** Tries per server before giving up (c-ares default 4). */
  tries?: number;
}

export class DnsResolver implements DnsLookup {
  private readonly resolver: dnsPromises.Resolver;

  constructor(options: DnsResolverOptions) {
    // Each instance has its own c-ares channel, so two servers in one process never share
    // servers or settings (no module-level state, DESIGN.md §2).
    this.resolver = new dnsPromises.Resolver({ timeout: options.timeoutMs ?? -1, tries: options.tries ?? 4 });
    // Checked here too, not only in config validation: node 20 aborts the whole process
    // (a native assertion) on "127.0.0.1:0", and silently drops the port of "[::1]:0" or ":65536".
    for (const server of options.servers) {
      const problem = dnsServerProblem(server);
      if (problem) throw new RangeError(`invalid DNS server "${server}": ${problem}`);
    }
    // An empty list keeps what c-ares read from /etc/resolv.conf.
    if (options.servers.length > 0) this.resolver.setServers(options.servers);
  }

  /** The servers in use, as node reports them ("127.0.0.1:5353", "[::1]:53", "192.0.2.1"). */
  servers(): string[] {
    return this.resolver.getServers();
  }

  resolveMx(name: string): Promise<MxRecord[]> {
    return this.resolver.resolveMx(name);
  }

  resolve4(name: string): Promise<string[]> {
    return this.resolver.resolve4(name);
  }

  resolve6(name: string): Promise<string[]> {
    return this.resolver.resolve6(name);
  }

  /** Fails outstanding queries with ECANCELLED (a temporary error). */
  cancel(): void {
    this.resolver.cancel();
  }
}

/**
 * What a failed lookup means for mail routing:
 * - 'nxdomain': the name does not exist (RCODE 3; node: ENOTFOUND). Permanent.
 * - 'nodata': the name exists but has no record of the asked type (NOERROR, empty answer;
 *   node: ENODATA). Not an error for routing: no MX means an implicit MX (RFC 5321 §5.1).
 * - 'temporary': anything else — SERVFAIL, REFUSED, timeouts, unreachable servers, malformed
 *   answers, errors we do not know (DESIGN.md §5: an unclassified error counts as temporary).
 */
export type DnsErrorKind = 'nxdomain' | 'nodata' | 'temporary';

export interface DnsErrorClass {
  kind: DnsErrorKind;
  /** node's code ('ESERVFAIL', 'ETIMEOUT', …) or 'unknown'. */
  code: string;
  /** A short cause for logs and DSN text, e.g. "DNS server failure (SERVFAIL)". */
  text: string;
}

// node's codes are the c-ares status names (node:dns constants). Only the first two are answers
// about the name itself; every other code says the question went unanswered.
const CAUSES: Record<string, string> = {
  ENOTFOUND: 'no such domain (NXDOMAIN)',
  ENODATA: 'no records of that type',
  ESERVFAIL: 'DNS server failure (SERVFAIL)',
  EREFUSED: 'DNS query refused (REFUSED)',
  ETIMEOUT: 'DNS query timed out',
  ECONNREFUSED: 'could not contact the DNS server',
  EFORMERR: 'DNS server rejected the query as malformed (FORMERR)',
  ENOTIMP: 'DNS server does not implement the query (NOTIMP)',
  EBADRESP: 'malformed DNS reply',
  EBADQUERY: 'malformed DNS query',
  EBADNAME: 'malformed domain name',
  EBADFAMILY: 'unsupported address family',
  ECANCELLED: 'DNS query cancelled',
  EDESTRUCTION: 'DNS resolver shut down',
  EEOF: 'unexpected end of DNS data',
  EFILE: 'could not read the resolver configuration',
  ENOMEM: 'out of memory in the resolver',
  ELOADIPHLPAPI: 'could not load the resolver library',
  EADDRGETNETWORKPARAMS: 'could not read the network parameters',
  ENONAME: 'name is not a domain name',
  EBADHINTS: 'invalid resolver hints',
  EBADFLAGS: 'invalid resolver flags',
  EBADSTR: 'malformed string in DNS data',
  ENOTINITIALIZED: 'resolver not initialised',
};

export function classifyDnsError(err: unknown): DnsErrorClass {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'unknown';
  if (code === 'ENOTFOUND') return { kind: 'nxdomain', code, text: CAUSES[code] };
  if (code === 'ENODATA') return { kind: 'nodata', code, text: CAUSES[code] };
  const cause = CAUSES[code] ?? `DNS lookup failed (${code === 'unknown' ? String((err as Error)?.message ?? err) : code})`;
  return { kind: 'temporary', code, text: cause };
}
