/**
 * mulberry32: a small, fast seeded PRNG, good enough for test schedules, message text and
 * "random" orders that must be the same on every run of a seed.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A message body for crash-test ledgers: `head` (header fields and the empty line), then
 * random text lines up to about `size` octets, with the lines that trip SMTP up now and
 * then: a lone ".", lines starting with ".", empty lines and (longLines) 998-octet lines.
 */
export function ledgerBody(rand: () => number, head: string, firstLine: string, size: number, longLines = false): Buffer {
  const lines: string[] = [firstLine];
  let length = head.length + firstLine.length + 2;
  const alphabet = 'abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?-=';
  while (length < size) {
    const kind = rand();
    let line: string;
    if (kind < 0.04) line = '.';
    else if (kind < 0.08) line = '.' + 'dot-start '.repeat(1 + Math.floor(rand() * 5));
    else if (kind < 0.1) line = '';
    else {
      const n = longLines && kind < 0.101 ? 998 : 1 + Math.floor(rand() * 120);
      let s = '';
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      line = s;
    }
    lines.push(line);
    length += line.length + 2;
  }
  return Buffer.from(head + lines.join('\r\n') + '\r\n', 'latin1');
}
