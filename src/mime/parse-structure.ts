/**
 * The MIME structure of a message (RFC 2045, RFC 2046), parsed in one pass at delivery
 * (DESIGN.md §4) into a tree of entities with exact byte offsets.
 *
 *   parseMimeStructure(message: Buffer, limits?: MimeLimits): MimeStructure
 *
 * Never throws on any input; every offset lies in [0, message.length]. Work is linear in the
 * message size: candidate boundary lines are found with a native search for "\n--" and
 * matched against all open boundaries in one walk (boundary-set.ts), each byte belongs to
 * one entity, and line counts are summed up the tree instead of recounted (bodyLf). Kept
 * header values are cut at 256 KB and boundaries longer than 256 bytes are unusable, so
 * hostile headers cannot make the work grow either.
 *
 * The tree (MimeNode, structure-types.ts):
 * - The root is the message (part ""). A multipart has its body parts as children, numbered
 *   "1", "2", ... and "1.1" below them (RFC 9051 §6.4.5). A message/rfc822 or message/global
 *   part has one child, the encapsulated message, which carries the part's own number (the
 *   root's message/rfc822 child is "1"), so its children are "N.1", "N.2".
 * - Offsets: headerStart..headerEnd is the header section including the empty line that ends
 *   it; bodyStart = headerEnd; bodyEnd excludes the line break before a boundary line, which
 *   belongs to the delimiter (RFC 2046 §5.1.1).
 * - Sizes are octets as stored, so BODYSTRUCTURE sizes equal what BODY[...] returns.
 *
 * How broken mail is read (Dovecot 2.3 agrees unless the README in test/fixtures/mime says not):
 * - Boundary lines are matched by prefix, the longest boundary of any open multipart winning
 *   (RFC 2046 §5.1.2 lets an outer boundary end inner parts); "--b--" closes b, and any text
 *   up to an outer boundary is epilogue.
 * - A boundary line inside a part's header ends the header and the part. So does one right
 *   after the empty line that ends a part header: that line break is the delimiter's
 *   (body-part = headers [CRLF *OCTET]), unless the line is the part's own boundary.
 * - A missing final boundary ends the parts at the end of the message (or an outer boundary).
 * - Content-Type without type "/" subtype is text/plain; charset=us-ascii (RFC 2045 §5.2),
 *   and so is a multipart that yields no body part: no boundary parameter, a boundary that
 *   never appears, or only a close delimiter. Dovecot shows the latter as a multipart holding
 *   one synthesized empty text/plain part instead.
 * - Without MIME-Version and Content-Type, a message's Content-* fields are ignored (RFC 2045
 *   §4), the way Dovecot does; body parts of a multipart are always MIME.
 * - In a multipart/digest a part without Content-Type is message/rfc822 (RFC 2046 §5.1.5).
 * - The first of duplicate fields counts.
 * - Beyond maxDepth nesting or maxParts entities, a multipart or message part becomes an
 *   opaque text/plain leaf and limitsHit is set.
 */
import { BoundarySet } from './boundary-set.js';
import { latin1ToText } from './charset.js';
import { parseContentDisposition, parseContentType, parseLanguageList, parseMimeToken } from './content-type.js';
import { fieldNameEnd, unfoldValue } from './header-fields.js';
import { emptyEnvelopeFields, type ContentFields, type EnvelopeFields, type MimeNode, type MimeStructure } from './structure-types.js';

export type { MimeNode, MimeStructure } from './structure-types.js';

export interface MimeLimits {
  /** Nesting of multipart and message parts (Dovecot also stops at 100). */
  maxDepth?: number;
  /** Entities in one message (Dovecot also stops at 10000). */
  maxParts?: number;
}

export const DEFAULT_MIME_LIMITS: Required<MimeLimits> = { maxDepth: 100, maxParts: 10000 };

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const DASH = 0x2d;
const NL_DASHES = Buffer.from('\n--', 'latin1');
/** Longest usable boundary parameter (RFC 2046 §5.1.1 says 70). */
const MAX_BOUNDARY = 256;
/** Kept field values are cut to this many bytes (Postfix's whole-header default is 100 KB). */
const MAX_FIELD_BYTES = 256 * 1024;

/** A boundary line: where it starts ("--"), where the next line starts, which open multipart it belongs to. */
interface BoundaryMatch {
  lineStart: number;
  lineEnd: number;
  hasLineBreak: boolean;
  level: number;
  close: boolean;
}

interface Parsed {
  node: MimeNode;
  /** Where the entity ends (its bodyEnd). */
  end: number;
  /** The boundary line that ended it, or null at the end of the message. */
  term: BoundaryMatch | null;
}

// Fields the parser keeps (first occurrence), by lowercase name → slot.
const CONTENT_FIELDS = [
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'content-md5',
  'content-location',
  'content-disposition',
  'content-language',
  'mime-version',
] as const;
const ENVELOPE_FIELDS: ReadonlyArray<[string, keyof EnvelopeFields]> = [
  ['date', 'date'],
  ['subject', 'subject'],
  ['from', 'from'],
  ['sender', 'sender'],
  ['reply-to', 'replyTo'],
  ['to', 'to'],
  ['cc', 'cc'],
  ['bcc', 'bcc'],
  ['in-reply-to', 'inReplyTo'],
  ['message-id', 'messageId'],
  ['references', 'references'],
];
const SLOT = new Map<string, number>([...CONTENT_FIELDS, ...ENVELOPE_FIELDS.map(([f]) => f)].map((f, i) => [f, i]));
const FIRST_ENVELOPE_SLOT = CONTENT_FIELDS.length;
const slotOf = (name: string): number => SLOT.get(name) as number;

const NAME_START = new Uint8Array(256);
for (const ch of 'bcdfimrst') NAME_START[ch.charCodeAt(0)] = 1;

interface FieldRange {
  valueStart: number;
  end: number;
}

const TEXT_PLAIN_DEFAULT = { charset: 'us-ascii' };

function emptyContent(): ContentFields {
  return {
    type: null,
    subtype: null,
    params: [],
    encoding: null,
    id: null,
    description: null,
    md5: null,
    location: null,
    disposition: null,
    language: null,
  };
}

/** Make a multipart or message entity an opaque text/plain leaf (RFC 2045 §5.2 default). */
function downgradeToText(node: MimeNode): void {
  node.type = 'text';
  node.subtype = 'plain';
  node.params = { ...TEXT_PLAIN_DEFAULT };
  node.content.type = null;
  node.content.subtype = null;
  node.content.params = [];
  node.children = [];
}

class StructureParser {
  private readonly boundaries = new BoundarySet();
  partCount = 0;
  limitsHit = false;
  private readonly lineMemo = new Map<MimeNode, number>();

  constructor(
    private readonly buf: Buffer,
    private readonly maxDepth: number,
    private readonly maxParts: number,
  ) {}

  /** If the line at p (starting "--") is a boundary of an open multipart, describe it. */
  private matchAt(p: number): BoundaryMatch | null {
    const found = this.boundaries.longestMatch(this.buf, p + 2);
    if (found === null) return null;
    const buf = this.buf;
    const after = p + 2 + found.length;
    const close = buf[after] === DASH && buf[after + 1] === DASH;
    const e = buf.indexOf(LF, after);
    return {
      lineStart: p,
      lineEnd: e < 0 ? buf.length : e + 1,
      hasLineBreak: e >= 0,
      level: found.level,
      close,
    };
  }

  /** The first boundary line at or after `pos`, which must be the start of a line. */
  private findBoundary(pos: number): BoundaryMatch | null {
    if (this.boundaries.depth === 0) return null;
    const buf = this.buf;
    if (buf[pos] === DASH && buf[pos + 1] === DASH) {
      const m = this.matchAt(pos);
      if (m !== null) return m;
    }
    let i = pos;
    for (;;) {
      const j = buf.indexOf(NL_DASHES, i);
      if (j < 0) return null;
      const m = this.matchAt(j + 1);
      if (m !== null) return m;
      i = j + 1;
    }
  }

  /** Step back over the line break before a boundary line, but not below `floor`. */
  private beforeLineBreak(lineStart: number, floor: number): number {
    let e = lineStart;
    if (e > floor && this.buf[e - 1] === LF) {
      e--;
      if (e > floor && this.buf[e - 1] === CR) e--;
    }
    return e;
  }

  /**
   * Parse the entity starting at `start`: its header, then its body up to the next boundary
   * of an open multipart (or the end of the message).
   */
  parseEntity(start: number, part: string, depth: number, isMessage: boolean, inDigest: boolean): Parsed {
    this.partCount++;
    const buf = this.buf;
    const n = buf.length;
    const checkBoundaries = this.boundaries.depth > 0;

    // --- header section
    const kept: Array<FieldRange | undefined> = new Array(SLOT.size);
    let open: FieldRange | null = null; // the kept field the next continuation line extends
    let p = start;
    let headerEnd: number;
    let term: BoundaryMatch | null = null;
    let blankLine = -1;
    for (;;) {
      if (p >= n) {
        headerEnd = n;
        break;
      }
      const c = buf[p];
      if (checkBoundaries && c === DASH && buf[p + 1] === DASH) {
        const m = this.matchAt(p);
        if (m !== null) {
          headerEnd = this.beforeLineBreak(p, start);
          term = m;
          break;
        }
      }
      const e = buf.indexOf(LF, p);
      const lineEnd = e < 0 ? n : e + 1;
      if (c === LF || (c === CR && buf[p + 1] === LF)) {
        headerEnd = lineEnd; // the empty line belongs to the header section...
        blankLine = p;
        break;
      }
      if (c === SP || c === HT) {
        if (open !== null) open.end = lineEnd;
      } else {
        open = null;
        // cheap filter before making a string: kept names are short and start with one of these
        const ne = NAME_START[c | 0x20] === 1 ? fieldNameEnd(buf, p, lineEnd) : null;
        if (ne !== null && ne[0] - p <= 25) {
          const slot = SLOT.get(buf.toString('latin1', p, ne[0]).toLowerCase());
          if (slot !== undefined && kept[slot] === undefined && (isMessage || slot < FIRST_ENVELOPE_SLOT)) {
            open = { valueStart: ne[1], end: lineEnd };
            kept[slot] = open;
          }
        }
      }
      p = lineEnd;
    }

    // --- Content-* fields (RFC 2045 §4: only for MIME entities)
    const content = emptyContent();
    const isMime = !isMessage || kept[slotOf('mime-version')] !== undefined || kept[slotOf('content-type')] !== undefined;
    let type = inDigest ? 'message' : 'text';
    let subtype = inDigest ? 'rfc822' : 'plain';
    let params: Record<string, string> = inDigest ? {} : { ...TEXT_PLAIN_DEFAULT };
    let boundary: string | null = null;
    let encoding = '7bit';
    if (isMime) {
      const ctValue = this.fieldValue(kept, 'content-type');
      if (ctValue !== null) {
        const ct = parseContentType(ctValue);
        if (ct === null) {
          // RFC 2045 §5.2: a syntactically invalid Content-Type means text/plain; charset=us-ascii
          type = 'text';
          subtype = 'plain';
          params = { ...TEXT_PLAIN_DEFAULT };
        } else {
          content.type = latin1ToText(ct.type);
          content.subtype = latin1ToText(ct.subtype);
          content.params = ct.params.list.map(([k, v]) => [latin1ToText(k), latin1ToText(v)]);
          type = content.type.toLowerCase();
          subtype = content.subtype.toLowerCase();
          params = { ...ct.params.decoded };
          for (const [k, v] of ct.params.list) {
            if (k.toLowerCase() === 'boundary') {
              boundary = v;
              break;
            }
          }
        }
      }
      const cte = this.fieldValue(kept, 'content-transfer-encoding');
      const token = cte === null ? null : parseMimeToken(cte);
      if (token !== null) {
        content.encoding = latin1ToText(token);
        encoding = content.encoding.toLowerCase();
      }
      const id = this.fieldValue(kept, 'content-id');
      if (id !== null) content.id = latin1ToText(id);
      const description = this.fieldValue(kept, 'content-description');
      if (description !== null) content.description = latin1ToText(description);
      const md5 = this.fieldValue(kept, 'content-md5');
      if (md5 !== null) content.md5 = latin1ToText(md5);
      const location = this.fieldValue(kept, 'content-location');
      if (location !== null) content.location = latin1ToText(location);
      const dsp = this.fieldValue(kept, 'content-disposition');
      const parsedDsp = dsp === null ? null : parseContentDisposition(dsp);
      if (parsedDsp !== null) {
        content.disposition = {
          type: latin1ToText(parsedDsp.type),
          params: parsedDsp.params.list.map(([k, v]) => [latin1ToText(k), latin1ToText(v)]),
        };
      }
      const lang = this.fieldValue(kept, 'content-language');
      const langs = lang === null ? null : parseLanguageList(lang);
      if (langs !== null) content.language = langs.map(latin1ToText);
    }

    const isMultipart = type === 'multipart';
    const isMessagePart = type === 'message' && (subtype === 'rfc822' || subtype === 'global');
    // RFC 2046 §5.1.1 allows 1-70 characters; longer ones are accepted up to a sanity cap
    const usableBoundary =
      isMultipart && boundary !== null && boundary !== '' && boundary.length <= MAX_BOUNDARY && !/[\r\n]/.test(boundary);

    // ...unless an enclosing boundary line follows at once: then its line break is the
    // delimiter's (RFC 2046 §5.1.1: body-part = headers [CRLF *OCTET]). Our own boundary is
    // tried too, so that it wins when an enclosing one is a prefix of it (as Dovecot does).
    if (blankLine >= 0 && checkBoundaries && buf[headerEnd] === DASH && buf[headerEnd + 1] === DASH) {
      const enclosing = this.boundaries.depth;
      if (usableBoundary) this.boundaries.push(Buffer.from(boundary as string, 'latin1'));
      const m = this.matchAt(headerEnd);
      this.boundaries.truncate(enclosing);
      if (m !== null && m.level < enclosing) {
        term = m;
        headerEnd = blankLine;
      }
    }
    const bodyStart = headerEnd;

    let envelope: EnvelopeFields | null = null;
    if (isMessage) {
      const env = {} as EnvelopeFields;
      for (const [field, key] of ENVELOPE_FIELDS) {
        const v = this.fieldValue(kept, field);
        env[key] = v === null ? null : latin1ToText(v);
      }
      envelope = env;
    }

    const node: MimeNode = {
      part,
      headerStart: start,
      headerEnd,
      bodyStart,
      bodyEnd: bodyStart,
      type,
      subtype,
      params,
      encoding,
      children: [],
      lines: 0,
      content,
      envelope,
    };
    // --- body
    if (term !== null) {
      // the header was cut short by a boundary: the body is empty
      if (isMultipart) downgradeToText(node);
      else if (isMessagePart) {
        if (this.withinLimits(depth)) node.children.push(this.emptyMessage(bodyStart, part === '' ? '1' : part));
        else downgradeToText(node);
      }
      return { node, end: bodyStart, term };
    }

    if (usableBoundary && this.withinLimits(depth)) {
      const r = this.parseMultipart(node, Buffer.from(boundary as string, 'latin1'), depth, subtype === 'digest');
      node.bodyEnd = r.end;
      if (node.children.length === 0) downgradeToText(node);
      return { node, end: r.end, term: r.term };
    }
    if (isMultipart) downgradeToText(node);

    if (isMessagePart) {
      if (this.withinLimits(depth)) {
        const r = this.parseEntity(bodyStart, part === '' ? '1' : part, depth + 1, true, false);
        node.children.push(r.node);
        node.bodyEnd = r.end;
        return { node, end: r.end, term: r.term };
      }
      downgradeToText(node);
    }

    const m = this.findBoundary(bodyStart);
    node.bodyEnd = m === null ? n : this.beforeLineBreak(m.lineStart, bodyStart);
    return { node, end: node.bodyEnd, term: m };
  }

  private fieldValue(kept: Array<FieldRange | undefined>, name: string): string | null {
    const r = kept[slotOf(name)];
    return r === undefined ? null : unfoldValue(this.buf, r.valueStart, Math.min(r.end, r.valueStart + MAX_FIELD_BYTES));
  }

  private withinLimits(depth: number): boolean {
    if (depth < this.maxDepth && this.partCount < this.maxParts) return true;
    this.limitsHit = true;
    return false;
  }

  /** An encapsulated message with no bytes (its part was cut off by a boundary). */
  private emptyMessage(at: number, part: string): MimeNode {
    this.partCount++;
    return {
      part,
      headerStart: at,
      headerEnd: at,
      bodyStart: at,
      bodyEnd: at,
      type: 'text',
      subtype: 'plain',
      params: { ...TEXT_PLAIN_DEFAULT },
      encoding: '7bit',
      children: [],
      lines: 0,
      content: emptyContent(),
      envelope: emptyEnvelopeFields(),
    };
  }

  /** The body parts of a multipart (RFC 2046 §5.1.1), appended to node.children. */
  private parseMultipart(node: MimeNode, boundary: Buffer, depth: number, digest: boolean): { end: number; term: BoundaryMatch | null } {
    const n = this.buf.length;
    const level = this.boundaries.depth;
    this.boundaries.push(boundary);
    try {
      let m = this.findBoundary(node.bodyStart);
      for (;;) {
        if (m === null) return { end: n, term: null };
        if (m.level < level) {
          // an enclosing multipart's boundary: this one ends without its close delimiter
          return { end: this.beforeLineBreak(m.lineStart, node.bodyStart), term: m };
        }
        if (m.close) {
          // epilogue: up to an enclosing boundary, or the end
          this.boundaries.truncate(level);
          const m2 = this.findBoundary(m.lineEnd);
          return { end: m2 === null ? n : this.beforeLineBreak(m2.lineStart, m.lineEnd), term: m2 };
        }
        if (!m.hasLineBreak) return { end: n, term: null }; // "--b" as the last bytes: no part follows
        if (this.partCount >= this.maxParts) {
          // too many parts: the rest is opaque, but its end must still be found
          this.limitsHit = true;
          m = this.findBoundary(m.lineEnd);
          continue;
        }
        const index = node.children.length + 1;
        const childPart = node.part === '' ? String(index) : `${node.part}.${index}`;
        const r = this.parseEntity(m.lineEnd, childPart, depth + 1, false, digest);
        node.children.push(r.node);
        m = r.term;
      }
    } finally {
      this.boundaries.truncate(level);
    }
  }

  private countLf(from: number, to: number): number {
    if (to <= from) return 0;
    const view = this.buf.subarray(from, to);
    let count = 0;
    for (let i = view.indexOf(LF); i >= 0; i = view.indexOf(LF, i + 1)) count++;
    return count;
  }

  /**
   * LF count of a node's body: counted directly for leaves, summed from the children for
   * multipart and message parts, memoized, so each byte is counted at most once.
   */
  private bodyLf(node: MimeNode): number {
    const memo = this.lineMemo.get(node);
    if (memo !== undefined) return memo;
    let total = 0;
    if (node.children.length === 0) {
      total = this.countLf(node.bodyStart, node.bodyEnd);
    } else {
      let pos = node.bodyStart;
      for (const c of node.children) {
        total += this.countLf(pos, c.headerStart) + this.countLf(c.headerStart, c.bodyStart) + this.bodyLf(c);
        pos = c.bodyEnd;
      }
      total += this.countLf(pos, node.bodyEnd);
    }
    this.lineMemo.set(node, total);
    return total;
  }

  /** Set `lines` where BODYSTRUCTURE shows it: text/* and message/rfc822|global parts. */
  countLines(node: MimeNode): void {
    if (node.type === 'text' || (node.type === 'message' && node.children.length === 1)) node.lines = this.bodyLf(node);
    for (const c of node.children) this.countLines(c);
  }
}

/** Parse the MIME structure of a whole message. */
export function parseMimeStructure(message: Buffer, limits: MimeLimits = {}): MimeStructure {
  const maxDepth = limits.maxDepth ?? DEFAULT_MIME_LIMITS.maxDepth;
  const maxParts = limits.maxParts ?? DEFAULT_MIME_LIMITS.maxParts;
  const parser = new StructureParser(message, maxDepth, maxParts);
  const { node } = parser.parseEntity(0, '', 0, true, false);
  node.bodyEnd = message.length; // the top level runs to the end, whatever ended its parts
  parser.countLines(node);
  return { root: node, partCount: parser.partCount, limitsHit: parser.limitsHit };
}
