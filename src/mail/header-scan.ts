/**
 * A quick scan of an RFC 5322 header section for the field names present, e.g. to decide
 * whether Message-ID or Date must be added (RFC 6409 §8.2, §8.3). Not a full parser.
 */

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/**
 * The lowercase field names in `headerSection`. Stops at the first empty line (RFC 5322 §2.1);
 * continuation lines (starting with WSP, RFC 5322 §2.2.3) belong to the field before them.
 * Lines that are not `field-name ":"` (ftext = %d33-57 / %d59-126, RFC 5322 §3.6.8; obsolete
 * WSP before the colon, §4.5) are skipped. Accepts CRLF or bare LF line ends.
 */
export function scanHeaderNames(headerSection: Buffer): Set<string> {
  const names = new Set<string>();
  const buf = headerSection;
  let pos = 0;
  while (pos < buf.length) {
    let end = buf.indexOf(LF, pos);
    if (end < 0) end = buf.length;
    let lineEnd = end;
    if (lineEnd > pos && buf[lineEnd - 1] === CR) lineEnd--;
    if (lineEnd === pos) break; // the empty line that ends the header section
    const first = buf[pos];
    if (first !== SP && first !== HT) {
      const name = fieldName(buf, pos, lineEnd);
      if (name !== null) names.add(name);
    }
    pos = end + 1;
  }
  return names;
}

function fieldName(buf: Buffer, start: number, end: number): string | null {
  let i = start;
  while (i < end && buf[i] >= 33 && buf[i] <= 126 && buf[i] !== COLON) i++;
  const nameEnd = i;
  if (nameEnd === start) return null;
  while (i < end && (buf[i] === SP || buf[i] === HT)) i++; // obs-optional: field-name *WSP ":"
  if (i >= end || buf[i] !== COLON) return null;
  return buf.toString('latin1', start, nameEnd).toLowerCase();
}
