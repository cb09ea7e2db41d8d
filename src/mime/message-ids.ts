/**
 * Message identifiers for THREAD=REFERENCES (RFC 5256 §3) and THREAD=ORDEREDSUBJECT.
 *
 *   parseMessageIds(value): string[]   every "<...>" msg-id in a Message-ID, In-Reply-To or
 *                                      References value, in order, brackets kept
 *
 * RFC 5256 §3 step 1 uses the References ids, else the first In-Reply-To id, and the first
 * Message-ID id. Comments are skipped (In-Reply-To often carries "(message from ...)"), words
 * outside angle brackets are ignored (obs-in-reply-to allows phrases), and whitespace inside
 * an id is removed (folding can land there).
 */

export function parseMessageIds(value: string | null | undefined): string[] {
  if (value === null || value === undefined) return [];
  const ids: string[] = [];
  let depth = 0;
  let id: string | null = null;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (id !== null) {
      if (c === '>') {
        const clean = id.replace(/[ \t\r\n]+/g, '');
        if (clean !== '' && !clean.includes('<')) ids.push(`<${clean}>`);
        id = null;
      } else if (c === '<') {
        id = ''; // an unclosed "<": start again
      } else {
        id += c;
      }
    } else if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') {
      depth = 1;
    } else if (c === '<') {
      id = '';
    } else if (c === '"') {
      // a quoted phrase (obs-phrase) may contain "<": skip it
      for (i++; i < value.length && value[i] !== '"'; i++) if (value[i] === '\\') i++;
    }
  }
  return ids;
}
