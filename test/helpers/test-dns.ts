/**
 * A real DNS server on loopback for tests (DESIGN.md §7), built on dns2: UDP and TCP on the same
 * ephemeral port of 127.0.0.1, answering from an in-memory zone that tests change while it runs.
 *
 *   const dns = await startTestDns();
 *   t.after(() => dns.close());
 *   dns.zone.mx('example.org', [{ preference: 10, exchange: 'mx1.example.org' }]);
 *   dns.zone.a('mx1.example.org', ['127.0.0.3']);
 *   // config: { dns: { servers: [dns.address] } }
 *
 * Answers follow RFC 1034 §4.3.2 closely enough for the resolver's logic: a name that is not in
 * the zone (and is not a parent of one, RFC 8020) is NXDOMAIN; a name that exists but has no
 * record of the asked type is NOERROR with an empty answer section (NODATA). Every answer has
 * TTL 0, so no resolver cache (c-ares has one) keeps a record a test has since changed.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { Packet, TCPServer, UDPServer } from 'dns2';
import type { DnsHandler, Resource } from 'dns2';

// RFC 1035 §4.1.1 RCODE values (dns2 has them at runtime but not in its types).
const NOERROR = 0;
const SERVFAIL = 2;
const NXDOMAIN = 3;
const REFUSED = 5;

const TYPE_A = Packet.TYPE.A;
const TYPE_AAAA = Packet.TYPE.AAAA;
const TYPE_MX = Packet.TYPE.MX;
const CLASS_IN = Packet.CLASS.IN;

const TYPE_NAMES: Record<number, string> = { [TYPE_A]: 'A', [TYPE_AAAA]: 'AAAA', [TYPE_MX]: 'MX' };

export interface TestMx {
  preference: number;
  /** Host name; "" or "." is the root (a null MX when alone with preference 0). */
  exchange: string;
}

/** How a name misbehaves: queries for it get this instead of an answer. */
export type TestDnsFailure = 'servfail' | 'refused' | 'timeout';

export type TestRecordType = 'A' | 'AAAA' | 'MX';

interface NameEntry {
  mx?: TestMx[];
  a?: string[];
  aaaa?: string[];
  /** The failure, and the query types it applies to (undefined: every type). */
  failure?: { mode: TestDnsFailure; types?: Set<string> };
}

/** The records the server answers from. Names are case-insensitive; a trailing dot is ignored. */
export interface TestZone {
  /** Sets (replaces) the MX records of `name`. */
  mx(name: string, records: TestMx[]): void;
  /** Sets (replaces) the A records of `name`. An empty list leaves the name existing without A records. */
  a(name: string, addresses: string[]): void;
  /** Sets (replaces) the AAAA records of `name`. */
  aaaa(name: string, addresses: string[]): void;
  /** RFC 7505 null MX: a single `MX 0 .`. */
  nullMx(name: string): void;
  /** Queries for `name` (of every type, or only `types`) get SERVFAIL (RCODE 2). */
  servfail(name: string, types?: TestRecordType[]): void;
  /** Queries for `name` (of every type, or only `types`) get REFUSED (RCODE 5). */
  refused(name: string, types?: TestRecordType[]): void;
  /** Queries for `name` (of every type, or only `types`) are never answered. */
  timeout(name: string, types?: TestRecordType[]): void;
  /** Clears a failure set with servfail/refused/timeout; the records stay. */
  heal(name: string): void;
  /** Removes `name` and its records: it answers NXDOMAIN again (unless it is a parent of another name). */
  remove(name: string): void;
  /** Removes every name. */
  clear(): void;
}

export interface TestDns {
  /** "127.0.0.1:PORT", ready for config `dns.servers`. */
  address: string;
  port: number;
  zone: TestZone;
  /** Queries received for `name` (any type, or just `type`), over UDP and TCP. */
  queries(name: string, type?: TestRecordType): number;
  resetQueries(): void;
  /** Releases both sockets and any TCP connections still open. */
  close(): Promise<void>;
}

function normalize(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

class MemoryZone implements TestZone {
  readonly names = new Map<string, NameEntry>();

  private entry(name: string): NameEntry {
    const key = normalize(name);
    let e = this.names.get(key);
    if (!e) {
      e = {};
      this.names.set(key, e);
    }
    return e;
  }

  mx(name: string, records: TestMx[]): void {
    this.entry(name).mx = records.map((r) => ({ preference: r.preference, exchange: r.exchange }));
  }

  a(name: string, addresses: string[]): void {
    for (const a of addresses) if (!isIPv4(a)) throw new Error(`test DNS: "${a}" is not an IPv4 address`);
    this.entry(name).a = [...addresses];
  }

  aaaa(name: string, addresses: string[]): void {
    for (const a of addresses) if (!isIPv6(a)) throw new Error(`test DNS: "${a}" is not an IPv6 address`);
    this.entry(name).aaaa = [...addresses];
  }

  nullMx(name: string): void {
    this.mx(name, [{ preference: 0, exchange: '.' }]);
  }

  servfail(name: string, types?: TestRecordType[]): void {
    this.fail(name, 'servfail', types);
  }

  refused(name: string, types?: TestRecordType[]): void {
    this.fail(name, 'refused', types);
  }

  timeout(name: string, types?: TestRecordType[]): void {
    this.fail(name, 'timeout', types);
  }

  private fail(name: string, mode: TestDnsFailure, types?: TestRecordType[]): void {
    this.entry(name).failure = { mode, types: types && new Set(types) };
  }

  heal(name: string): void {
    const e = this.names.get(normalize(name));
    if (e) delete e.failure;
  }

  remove(name: string): void {
    this.names.delete(normalize(name));
  }

  clear(): void {
    this.names.clear();
  }

  /** RFC 8020: a name exists if it has records or is an ancestor of a name that does (empty non-terminal). */
  exists(name: string): boolean {
    if (this.names.has(name)) return true;
    const suffix = `.${name}`;
    for (const key of this.names.keys()) if (key.endsWith(suffix)) return true;
    return false;
  }
}

/** Encodes an IPv6 address the way dns2's AAAA encoder wants it: eight full hextets. */
function expandIPv6(address: string): string {
  let text = address;
  // A dotted-quad tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - headParts.length - tailParts.length).fill('0');
  return [...headParts, ...fill, ...tailParts].map((h) => h.padStart(4, '0')).join(':');
}

function answer(zone: MemoryZone, request: Packet): Packet | null {
  const response = Packet.createResponseFromRequest(request);
  response.header.aa = 1;
  response.header.ra = 1;
  const question = request.questions[0];
  if (!question) {
    response.header.rcode = 1; // FORMERR
    return response;
  }
  const name = normalize(question.name);
  const entry = zone.names.get(name);
  const failure = entry?.failure;
  if (failure && (!failure.types || failure.types.has(TYPE_NAMES[question.type] ?? ''))) {
    if (failure.mode === 'timeout') return null;
    response.header.rcode = failure.mode === 'servfail' ? SERVFAIL : REFUSED;
    return response;
  }
  if (!zone.exists(name)) {
    response.header.rcode = NXDOMAIN;
    return response;
  }
  response.header.rcode = NOERROR;
  // Answer with the name as asked, so a resolver comparing names byte-for-byte is satisfied.
  const base = { name: question.name, class: CLASS_IN, ttl: 0 };
  if (question.type === TYPE_A) {
    for (const address of entry?.a ?? []) response.answers.push({ ...base, type: TYPE_A, address } as Resource);
  } else if (question.type === TYPE_AAAA) {
    for (const address of entry?.aaaa ?? []) {
      response.answers.push({ ...base, type: TYPE_AAAA, address: expandIPv6(address) } as Resource);
    }
  } else if (question.type === TYPE_MX) {
    for (const mx of entry?.mx ?? []) {
      // dns2 encodes "" and "." alike: the root name, a single zero octet (RFC 7505 §3).
      const exchange = mx.exchange === '.' ? '' : mx.exchange;
      response.answers.push({ ...base, type: TYPE_MX, priority: mx.preference, exchange } as Resource);
    }
  }
  return response;
}

function listenUdp(socket: UdpSocket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.bind(port, '127.0.0.1', () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function listenTcp(server: NetServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeUdp(socket: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // not bound or already closed
    }
  });
}

function closeTcp(server: NetServer, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    // dns2 keeps idle TCP connections for 10 s (RFC 7766 §6.2.3); close() must not wait for them.
    for (const s of sockets) s.destroy();
  });
}

/**
 * Starts the server on 127.0.0.1 with an ephemeral port shared by UDP and TCP (a resolver retries
 * a truncated UDP answer over TCP on the same port). Call `close()` when done.
 */
export async function startTestDns(): Promise<TestDns> {
  const zone = new MemoryZone();
  const counts = new Map<string, number>();

  const handler: DnsHandler = (request, send) => {
    const question = request.questions[0];
    if (question) {
      const key = `${normalize(question.name)} ${TYPE_NAMES[question.type] ?? String(question.type)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const response = answer(zone, request);
    // A failed send means the client went away; nothing to do in a test server.
    if (response) send(response).catch(() => undefined);
  };

  // UDP takes an ephemeral port first; TCP must then get the same number. Another process can
  // hold it for TCP, so try a few ports.
  for (let attempt = 0; ; attempt++) {
    const udp = new UDPServer({ type: 'udp4' });
    udp.on('request', handler);
    udp.on('requestError', () => undefined); // malformed packets are dropped
    udp.on('error', () => undefined); // after bind: e.g. ICMP unreachable for a departed client
    await listenUdp(udp, 0);
    const port = udp.address().port;

    const tcp = new TCPServer();
    tcp.on('request', handler);
    tcp.on('requestError', () => undefined); // dns2 destroys the connection itself
    const sockets = new Set<Socket>();
    tcp.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    try {
      await listenTcp(tcp, port);
    } catch (err) {
      await closeUdp(udp);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
      throw err;
    }
    tcp.on('error', () => undefined);

    let closed: Promise<void> | undefined;
    return {
      address: `127.0.0.1:${port}`,
      port,
      zone,
      queries(name, type) {
        const n = normalize(name);
        if (type !== undefined) return counts.get(`${n} ${type.toUpperCase()}`) ?? 0;
        let total = 0;
        for (const [key, count] of counts) if (key.slice(0, key.lastIndexOf(' ')) === n) total += count;
        return total;
      },
      resetQueries() {
        counts.clear();
      },
      close() {
        closed ??= Promise.all([closeUdp(udp), closeTcp(tcp, sockets)]).then(() => undefined);
        return closed;
      },
    };
  }
}
