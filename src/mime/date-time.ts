/**
 * The Date header as a point in time, for SEARCH SENTBEFORE/SENTON/SENTSINCE and SORT DATE.
 *
 *   parseDateHeader(value): number | null   epoch milliseconds, or null when unusable
 *
 * Accepts RFC 5322 §3.3 date-time and the obsolete forms of §4.3: no day of week, two- or
 * three-digit years (§4.3: < 50 → 20xx, else 19xx; three digits + 1900), missing seconds,
 * comments, named zones (UT, GMT, EST ... PDT), and military or unknown zones, which §4.3
 * says to read as -0000 (i.e. UTC); a missing zone is UTC too. Out-of-range fields give null;
 * RFC 5256 §2.2 then falls back to INTERNALDATE, which is the caller's to do.
 */

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

// RFC 5322 §4.3 obs-zone
const ZONES: Record<string, number> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  edt: -4 * 60,
  est: -5 * 60,
  cdt: -5 * 60,
  cst: -6 * 60,
  mdt: -6 * 60,
  mst: -7 * 60,
  pdt: -7 * 60,
  pst: -8 * 60,
};

function stripComments(s: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && depth > 0) {
      i++;
    } else if (c === '(') {
      depth++;
      out += ' ';
    } else if (c === ')' && depth > 0) {
      depth--;
    } else if (depth === 0) {
      out += c;
    }
  }
  return out;
}

const DATE_RE =
  /^(?:[a-z]+\s*,?\s*)?(\d{1,2})\s*[-\s]\s*([a-z]{3})[a-z]*\.?\s*[-\s]\s*(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?(?:\.\d+)?\s*([+-]\d{4}|[a-z]+)?/i;

/** Parse a Date header value; null when it is not a usable date. */
export function parseDateHeader(value: string | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const s = stripComments(value).replace(/\s+/g, ' ').trim();
  const m = DATE_RE.exec(s);
  if (m === null) return null;
  const day = Number(m[1]);
  const month = MONTHS[m[2].toLowerCase()];
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month === undefined || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let offset = 0;
  const zone = m[7];
  if (zone !== undefined) {
    if (zone[0] === '+' || zone[0] === '-') {
      const hh = Number(zone.slice(1, 3));
      const mm = Number(zone.slice(3, 5));
      if (mm > 59) return null;
      offset = (zone[0] === '-' ? -1 : 1) * (hh * 60 + mm);
    } else {
      offset = ZONES[zone.toLowerCase()] ?? 0;
    }
  }
  const t = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  // Date.UTC rolls 31 Feb over into March: reject dates that do not exist
  const check = new Date(Date.UTC(year, month, day));
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month) return null;
  return Number.isFinite(t) ? t : null;
}
