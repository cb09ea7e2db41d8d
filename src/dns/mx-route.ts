/**
 * Mail routing (RFC 5321 §5.1): from a domain to the hosts to try, in order, or the reason there
 * are none. Outcomes are values (DESIGN.md §5); nothing here throws.
 *
 * Address order within a host: IPv4 first, then IPv6, each in the order DNS gave them. Many hosts
 * publish AAAA records without working IPv6 routes, and delivery tries every address of a host
 * anyway (RFC 5321 §5.1: try the addresses in order until one works). Postfix with
 * `inet_protocols = all` and `smtp_address_preference = any` behaves much the same.
 */
import { isIP } from 'node:net';
import type { MailHost, MailRouter, Route } from './types.js';
import { classifyDnsError, type DnsErrorClass, type DnsLookup } from './resolver.js';

export interface MxRouterOptions {
  lookup: DnsLookup;
  /** Names that are this server (config `hostname` and the like); compared case-insensitively. */
  ourHostnames: string[];
  /** Whether an IP address (as text) is one of ours: a routing loop otherwise. */
  isOurAddress: (ip: string) => boolean;
  /** In [0, 1), like Math.random (the default); tests inject one to make the shuffle deterministic. */
  random?: () => number;
}

/** What the A and AAAA lookups of one name found. */
interface HostAddresses {
  addresses: string[];
  /** Why there are no addresses: 'none' (NXDOMAIN or no A/AAAA records) or a temporary failure. */
  failure?: { kind: 'nxdomain' | 'nodata' } | { kind: 'temporary'; cause: DnsErrorClass };
}

interface Candidate {
  name: string;
  preference: number;
  found: HostAddresses;
  ours: boolean;
}

function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** RFC 7505 §3: the root ("." in master files; node gives '') is not a host name. */
function isRoot(exchange: string): boolean {
  return exchange === '' || exchange === '.';
}

function error(permanent: boolean, enhancedCode: string, text: string): Route {
  return { kind: 'error', permanent, enhancedCode, text };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class MxRouter implements MailRouter {
  private readonly lookup: DnsLookup;
  private readonly ourHostnames: Set<string>;
  private readonly isOurAddress: (ip: string) => boolean;
  private readonly random: () => number;

  constructor(options: MxRouterOptions) {
    this.lookup = options.lookup;
    this.ourHostnames = new Set(options.ourHostnames.map(normalizeName));
    this.isOurAddress = options.isOurAddress;
    this.random = options.random ?? Math.random;
  }

  async route(domain: string): Promise<Route> {
    try {
      return await this.routeDomain(normalizeName(domain));
    } catch (err) {
      // A bug or a broken lookup object, not an answer from DNS: retry later (DESIGN.md §5).
      return error(false, '4.3.0', `routing mail for ${String(domain)} failed unexpectedly: ${describe(err)}`);
    }
  }

  async routeToHost(hostname: string): Promise<Route> {
    try {
      const host = normalizeName(hostname);
      // "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3) or a bare IP: no DNS at all.
      const literal = host.replace(/^\[(?:ipv6:)?(.*)\]$/, '$1');
      if (isIP(literal)) return { kind: 'hosts', hosts: [{ name: literal, preference: 0, addresses: [literal] }] };

      const found = await this.addressesOf(host);
      if (found.addresses.length > 0) return { kind: 'hosts', hosts: [{ name: host, preference: 0, addresses: found.addresses }] };
      if (found.failure?.kind === 'temporary') {
        return error(false, '4.4.3', `address lookup for relay host ${host} failed: ${found.failure.cause.text}`);
      }
      return error(
        true,
        '5.4.4',
        found.failure?.kind === 'nxdomain'
          ? `relay host ${host} does not exist (NXDOMAIN)`
          : `relay host ${host} has no address records`,
      );
    } catch (err) {
      return error(false, '4.3.0', `routing to relay host ${String(hostname)} failed unexpectedly: ${describe(err)}`);
    }
  }

  private async routeDomain(domain: string): Promise<Route> {
    if (domain === '' || domain.startsWith('[')) {
      return error(true, '5.1.2', `"${domain}" is not a domain name that MX routing can resolve`);
    }

    let records: { exchange: string; priority: number }[];
    try {
      records = await this.lookup.resolveMx(domain);
    } catch (err) {
      const cause = classifyDnsError(err);
      if (cause.kind === 'nxdomain') return error(true, '5.1.2', `domain ${domain} does not exist (NXDOMAIN)`);
      if (cause.kind === 'temporary') return error(false, '4.4.3', `MX lookup for ${domain} failed: ${cause.text}`);
      records = []; // nodata: the domain exists without MX records
    }

    // RFC 5321 §5.1: no MX records means an implicit MX, preference 0, pointing to the domain.
    if (records.length === 0) return this.implicitMx(domain);

    // RFC 7505 §3: a null MX is a single MX with preference 0 and the root as exchange.
    if (records.length === 1 && isRoot(records[0].exchange) && records[0].priority === 0) {
      return error(true, '5.1.10', `domain ${domain} does not accept mail (null MX, RFC 7505)`);
    }

    // RFC 7505 §3 forbids a null MX beside other MX records but says nothing of what a client
    // does then. The root is not a host name, so such a record names no host: ignore it and use
    // the others (what Postfix does).
    const byName = new Map<string, number>();
    for (const r of records) {
      if (isRoot(r.exchange)) continue;
      const name = normalizeName(r.exchange);
      const prev = byName.get(name);
      // A host listed twice is tried once, at its best preference.
      if (prev === undefined || r.priority < prev) byName.set(name, r.priority);
    }
    if (byName.size === 0) {
      return error(true, '5.4.4', `the MX records of ${domain} name no host`);
    }

    const ordered = this.order([...byName].map(([name, preference]) => ({ name, preference })));
    // RFC 5321 §5.1: every host's addresses, A and AAAA, all looked up at once.
    const candidates: Candidate[] = await Promise.all(
      ordered.map(async ({ name, preference }) => {
        const found = await this.addressesOf(name);
        return { name, preference, found, ours: this.isUs(name, found.addresses) };
      }),
    );

    // RFC 5321 §5.1: if we are one of the MX hosts, discard ourselves and every MX with an equal
    // or worse (higher) preference; those would only hand the mail back to us or sideways.
    const ourBest = Math.min(...candidates.filter((c) => c.ours).map((c) => c.preference));
    const usable = candidates.filter((c) => c.preference < ourBest);
    if (usable.length === 0) return error(true, '5.4.6', `mail for ${domain} loops back to myself`);

    // A host whose lookups failed temporarily stays in its place with no addresses: delivery
    // skips it now, and the message is retried if no other host takes it. A host with no
    // address records (or NXDOMAIN) is dropped. Never fall back to the domain's own A record
    // when MX records exist (RFC 5321 §5.1: the implicit MX is only for "no MX records").
    const hosts: MailHost[] = [];
    let temporary: { name: string; cause: DnsErrorClass } | undefined;
    for (const c of usable) {
      if (c.found.addresses.length > 0) {
        hosts.push({ name: c.name, preference: c.preference, addresses: c.found.addresses });
      } else if (c.found.failure?.kind === 'temporary') {
        temporary ??= { name: c.name, cause: c.found.failure.cause };
        hosts.push({ name: c.name, preference: c.preference, addresses: [] });
      }
    }
    if (hosts.some((h) => h.addresses.length > 0)) return { kind: 'hosts', hosts };
    if (temporary) {
      return error(false, '4.4.3', `address lookup for MX host ${temporary.name} of ${domain} failed: ${temporary.cause.text}`);
    }
    return error(true, '5.4.4', `no address for the MX hosts of ${domain} (${usable.map((c) => c.name).join(', ')})`);
  }

  private async implicitMx(domain: string): Promise<Route> {
    const found = await this.addressesOf(domain);
    if (found.addresses.length === 0) {
      if (found.failure?.kind === 'temporary') {
        return error(false, '4.4.3', `address lookup for ${domain} failed: ${found.failure.cause.text}`);
      }
      // RFC 5321 §5.1: "If MX records are present, but none of them are usable, or the implicit
      // MX is unusable, this situation MUST be reported as an error."
      return error(true, '5.1.2', `no mail host for domain ${domain} (no MX and no address records)`);
    }
    if (this.isUs(domain, found.addresses)) return error(true, '5.4.6', `mail for ${domain} loops back to myself`);
    return { kind: 'hosts', hosts: [{ name: domain, preference: 0, addresses: found.addresses }] };
  }

  private isUs(name: string, addresses: string[]): boolean {
    return this.ourHostnames.has(name) || addresses.some((a) => this.isOurAddress(a));
  }

  /**
   * By preference, lowest first. RFC 5321 §5.1: hosts of equal preference MUST be tried in
   * random order to spread the load, so each group is shuffled (Fisher–Yates).
   */
  private order<T extends { preference: number }>(items: T[]): T[] {
    const sorted = [...items].sort((a, b) => a.preference - b.preference);
    for (let start = 0; start < sorted.length; ) {
      let end = start + 1;
      while (end < sorted.length && sorted[end].preference === sorted[start].preference) end++;
      for (let i = end - 1; i > start; i--) {
        const j = start + Math.floor(this.random() * (i - start + 1));
        [sorted[i], sorted[j]] = [sorted[j], sorted[i]];
      }
      start = end;
    }
    return sorted;
  }

  /** A and AAAA of `name`, in parallel. Partial answers count: one family is enough. */
  private async addressesOf(name: string): Promise<HostAddresses> {
    const [v4, v6] = await Promise.allSettled([this.lookup.resolve4(name), this.lookup.resolve6(name)]);
    const addresses = [...new Set([...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])])];
    if (addresses.length > 0) return { addresses };
    const causes = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [classifyDnsError(r.reason)] : []));
    const temporary = causes.find((c) => c.kind === 'temporary');
    if (temporary) return { addresses, failure: { kind: 'temporary', cause: temporary } };
    return { addresses, failure: { kind: causes.some((c) => c.kind === 'nxdomain') ? 'nxdomain' : 'nodata' } };
  }
}
