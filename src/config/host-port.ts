/**
 * "host:port" addresses used by listeners, the relay host and DNS servers.
 * IPv6 literals need brackets ("[::1]:25") so the port separator is unambiguous.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** Thrown for a malformed address; the message says what is wrong, the caller adds how to fix it. */
export class HostPortSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostPortSyntaxError';
  }
}

/**
 * Whether `name` is a syntactically valid DNS host name in ASCII (RFC 1123 §2.1):
 * labels of letters, digits and hyphens, 1–63 characters, not starting or ending with a hyphen,
 * at most 253 characters in all. A single trailing dot is allowed. An all-numeric last label is
 * refused so that a mistyped IP address is not taken for a name.
 */
export function isHostname(name: string): boolean {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || n.length > 253) return false;
  const labels = n.split('.');
  if (!labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1]);
}

/**
 * Split "host:port" (or "[v6]:port") into its parts. The returned host has no brackets, ready
 * for `net.Server.listen()` or `net.connect()`. The host must be an IP literal or a host name;
 * the port an integer 0..65535 (0 asks the OS for any free port).
 */
export function parseHostPort(text: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\]:(.*)$/.exec(text);
    if (!m) throw new HostPortSyntaxError(`"${text}" is missing ":port" after the bracketed IPv6 address`);
    [, host, portText] = m;
    if (!isIPv6(host)) throw new HostPortSyntaxError(`"${host}" in brackets is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new HostPortSyntaxError(`"${text}" is missing ":port"`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) {
      throw new HostPortSyntaxError(`"${text}" has an IPv6 address without brackets (IPv6 goes in brackets: "[${host}]:${portText}")`);
    }
    if (host === '') throw new HostPortSyntaxError(`"${text}" has no host (use 0.0.0.0 or [::] for all interfaces)`);
    if (!isIPv4(host) && !isHostname(host)) {
      throw new HostPortSyntaxError(`"${host}" is not an IP address or a host name`);
    }
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new HostPortSyntaxError(`port "${portText}" is not a number from 0 to 65535`);
  }
  return { host, port: Number(portText) };
}

/**
 * Check a DNS server address the way `dns.setServers()` takes it: "ip", "ip:port", "v6",
 * "[v6]" or "[v6]:port". Host names are refused: the resolver cannot resolve its own servers.
 * Returns null when valid, otherwise what is wrong.
 */
export function dnsServerProblem(text: string): string | null {
  if (isIP(text)) return null;
  if (!text.includes(':')) return `"${text}" is not an IP address`;
  if (/^\[[^\]]*\]$/.test(text)) {
    return isIPv6(text.slice(1, -1)) ? null : `"${text}" is not an IPv6 address in brackets`;
  }
  try {
    const { host, port } = parseHostPort(text);
    if (!isIP(host)) return `"${host}" is not an IP address`;
    if (port === 0) return `port 0 is not a DNS server port`;
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
