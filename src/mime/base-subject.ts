/**
 * The base subject of RFC 5256 §2.1, for SORT SUBJECT and THREAD=ORDEREDSUBJECT.
 *
 *   baseSubject(subject): string
 *
 * `subject` may be the raw header value (encoded words are decoded here, step 1) or already
 * decoded text. The result keeps its case; SORT compares it with the i;unicode-casemap or
 * i;ascii-casemap collation, which is the caller's to apply.
 */
import { decodeEncodedWords } from './encoded-words.js';

// subj-blob = "[" *BLOBCHAR "]" *WSP ; BLOBCHAR = any CHAR except "[" and "]"
const BLOB = String.raw`\[[^\[\]]*\] *`;
// subj-leader = (*subj-blob subj-refwd) / WSP ; subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
const LEADER = new RegExp(String.raw`^(?:(?:${BLOB})*(?:re|fwd?) *(?:${BLOB})?:| )`, 'i');
const LEADING_BLOB = new RegExp(`^${BLOB}`);
// subj-trailer = "(fwd)" / WSP
const TRAILER = /(?:\(fwd\)| )$/i;

/** Longer subjects are cut first: the steps below rescan leading "[blob]"s, so cost grows with their number squared. */
export const MAX_SUBJECT_CHARS = 8192;

export function baseSubject(subject: string): string {
  // (1) decode, turn tabs and continuations into spaces, squeeze runs of spaces
  let s = decodeEncodedWords(subject.slice(0, MAX_SUBJECT_CHARS))
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/[\t\r\n ]+/g, ' ');
  for (;;) {
    // (2) remove trailers, repeatedly
    for (let m = TRAILER.exec(s); m !== null; m = TRAILER.exec(s)) s = s.slice(0, s.length - m[0].length);
    // (3)-(5) remove leaders and leading blobs until nothing changes
    for (;;) {
      const before = s;
      const leader = LEADER.exec(s);
      if (leader !== null) s = s.slice(leader[0].length);
      const blob = LEADING_BLOB.exec(s);
      // (4) only when what remains is a non-empty subj-base
      if (blob !== null && s.slice(blob[0].length).trim() !== '') s = s.slice(blob[0].length);
      if (s === before) break;
    }
    // (6) "[fwd:" ... "]" around the whole subject: unwrap and start over at (2)
    if (s.length >= 6 && /^\[fwd:/i.test(s) && s.endsWith(']')) {
      s = s.slice(5, -1);
      continue;
    }
    return s;
  }
}
