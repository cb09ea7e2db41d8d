/**
 * What delivery stores per message so FETCH and SEARCH never re-parse it (DESIGN.md §4): one
 * JSON value, one DB column.
 *
 *   analyzeMessage(message, limits?): StoredMime        parse once, at delivery or APPEND
 *   toStoredMime(structure): StoredMime                 the same from a MimeStructure
 *   partsFromStored(stored): MimePart                   the part tree again, for sections.ts and search-text.ts
 *   envelopeOf(stored), bodyStructureOf(stored, {extensible, imap4rev1})   the FETCH values
 *
 * StoredMime (version 1):
 *   {
 *     "v": 1,
 *     "envelope": ImapSexp,        ENVELOPE, ready to write out
 *     "bodystructure": ImapSexp,   BODYSTRUCTURE (extensible, IMAP4rev2 form); BODY is derived
 *     "parts": StoredPart,         the part tree with byte offsets
 *     "messageId": string|null,    first msg-id of Message-ID           (RFC 5256 §3)
 *     "inReplyTo": string[],       msg-ids of In-Reply-To
 *     "references": string[],      msg-ids of References
 *     "sentDate": number|null      Date header, epoch ms (SENTBEFORE, SORT DATE)
 *   }
 *   StoredPart = [headerStart, headerEnd, bodyStart, bodyEnd, type, subtype, encoding,
 *                 params, children?]   (type/subtype/encoding lowercase; params as in MimePart;
 *                 children omitted when empty; part numbers are implied by the tree)
 *
 * ImapSexp strings are JS strings, so the whole value survives JSON.stringify/parse as is.
 * The corpus messages take 0.4-2 KB each as JSON (median 0.8 KB).
 */
import { buildBodyStructure, bodyFromBodyStructure, imap4rev1BodyStructure } from './bodystructure.js';
import { parseDateHeader } from './date-time.js';
import { buildEnvelope } from './envelope.js';
import { parseMessageIds } from './message-ids.js';
import { parseMimeStructure, type MimeLimits } from './parse-structure.js';
import type { MimeNode, MimeStructure } from './structure-types.js';
import type { ImapSexp, MimePart } from './types.js';

export type StoredPart =
  | [number, number, number, number, string, string, string, Record<string, string>]
  | [number, number, number, number, string, string, string, Record<string, string>, StoredPart[]];

export interface StoredMime {
  v: 1;
  envelope: ImapSexp;
  bodystructure: ImapSexp;
  parts: StoredPart;
  messageId: string | null;
  inReplyTo: string[];
  references: string[];
  sentDate: number | null;
}

function storePart(node: MimeNode): StoredPart {
  const base: [number, number, number, number, string, string, string, Record<string, string>] = [
    node.headerStart,
    node.headerEnd,
    node.bodyStart,
    node.bodyEnd,
    node.type,
    node.subtype,
    node.encoding,
    { ...node.params },
  ];
  return node.children.length === 0 ? base : [...base, node.children.map(storePart)];
}

/** The stored form of a parsed message. */
export function toStoredMime(structure: MimeStructure): StoredMime {
  const root = structure.root;
  const env = root.envelope;
  return {
    v: 1,
    envelope: env === null ? null : buildEnvelope(env),
    bodystructure: buildBodyStructure(root),
    parts: storePart(root),
    messageId: parseMessageIds(env?.messageId)[0] ?? null,
    inReplyTo: parseMessageIds(env?.inReplyTo),
    references: parseMessageIds(env?.references),
    sentDate: parseDateHeader(env?.date),
  };
}

/** Parse a message and compute everything FETCH and SEARCH need from its structure. */
export function analyzeMessage(message: Buffer, limits?: MimeLimits): StoredMime {
  return toStoredMime(parseMimeStructure(message, limits));
}

function loadPart(p: StoredPart, part: string): MimePart {
  const node: MimePart = {
    part,
    headerStart: p[0],
    headerEnd: p[1],
    bodyStart: p[2],
    bodyEnd: p[3],
    type: p[4],
    subtype: p[5],
    encoding: p[6],
    params: p[7],
    children: [],
  };
  const kids = p.length === 9 ? p[8] : [];
  const isMessage = node.type === 'message' && kids.length === 1;
  node.children = kids.map((k, i) => {
    // the encapsulated message keeps its part's number ("1" for the root's); body parts count up
    const childNo = isMessage ? (part === '' ? '1' : part) : part === '' ? String(i + 1) : `${part}.${i + 1}`;
    return loadPart(k, childNo);
  });
  return node;
}

/** The part tree of a stored message (the same numbers and offsets parseMimeStructure gave). */
export function partsFromStored(stored: StoredMime): MimePart {
  return loadPart(stored.parts, '');
}

export function envelopeOf(stored: StoredMime): ImapSexp {
  return stored.envelope;
}

/**
 * BODYSTRUCTURE (extensible, default) or BODY. `imap4rev1` gives the RFC 3501 form, where
 * message/global is a basic part; IMAP4rev2 sessions (RFC 9051) take it as stored.
 */
export function bodyStructureOf(stored: StoredMime, opts: { extensible?: boolean; imap4rev1?: boolean } = {}): ImapSexp {
  let bs = stored.bodystructure;
  if (opts.imap4rev1 === true) bs = imap4rev1BodyStructure(bs);
  return opts.extensible === false ? bodyFromBodyStructure(bs) : bs;
}
