// The MIME corpus (test/fixtures/mime, see its README): each message's BODYSTRUCTURE, BODY
// and ENVELOPE against the stored expectations, the recorded Dovecot answers wherever we do
// not deliberately differ, and structural invariants of the part tree.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readImapSexp, writeImapSexp } from './imap-text.test-helper.js';
import { parseMimeStructure } from './parse-structure.js';
import { fetchBinary, fetchSection, findPart, parseSectionSpec, UnknownTransferEncodingError } from './sections.js';
import { analyzeMessage, bodyStructureOf, partsFromStored, type StoredMime } from './stored-form.js';
import type { MimePart } from './types.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/mime');

interface Expectation {
  bodystructure: string;
  body: string;
  envelope: string;
  differences: Record<string, string>;
  dovecot: {
    bodystructure: string;
    body: string;
    envelope: string;
    sections: Record<string, string>;
    binary: Record<string, string>;
  };
}

const names = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .sort();

const digest = (b: Buffer) => `${b.length}:${crypto.createHash('sha256').update(b).digest('hex').slice(0, 16)}`;

function pathOf(part: string): number[] {
  return part === '' ? [] : part.split('.').map(Number);
}

/** Every entity with its parent (null for the root). */
function walk(node: MimePart, parent: MimePart | null = null, out: Array<[MimePart, MimePart | null]> = []) {
  out.push([node, parent]);
  for (const c of node.children) walk(c, node, out);
  return out;
}

/** The MimePart fields of a parsed node, for comparing with the stored form. */
function plain(node: MimePart): MimePart {
  return {
    part: node.part,
    headerStart: node.headerStart,
    headerEnd: node.headerEnd,
    bodyStart: node.bodyStart,
    bodyEnd: node.bodyEnd,
    type: node.type,
    subtype: node.subtype,
    params: { ...node.params },
    encoding: node.encoding,
    children: node.children.map(plain),
  };
}

describe('MIME corpus', () => {
  it('has at least 30 messages, each with an expectations file', () => {
    assert.ok(names.length >= 30, `only ${names.length} messages`);
    for (const n of names) assert.ok(fs.existsSync(path.join(dir, n.replace(/\.eml$/, '.json'))), n);
  });

  for (const name of names) {
    describe(name, () => {
      const message = fs.readFileSync(path.join(dir, name));
      const exp = JSON.parse(fs.readFileSync(path.join(dir, name.replace(/\.eml$/, '.json')), 'utf8')) as Expectation;
      const stored = analyzeMessage(message);
      const root = partsFromStored(stored);
      const differs = (key: string, wildcard: string) => key in exp.differences || wildcard in exp.differences;

      it('BODYSTRUCTURE, BODY and ENVELOPE are as expected', () => {
        assert.equal(writeImapSexp(stored.bodystructure), exp.bodystructure);
        assert.equal(writeImapSexp(bodyStructureOf(stored, { extensible: false })), exp.body);
        assert.equal(writeImapSexp(stored.envelope), exp.envelope);
      });

      it('agrees with Dovecot except for the documented differences', () => {
        const ours: Record<string, unknown> = {
          bodystructure: bodyStructureOf(stored, { imap4rev1: true }),
          body: bodyStructureOf(stored, { imap4rev1: true, extensible: false }),
          envelope: stored.envelope,
        };
        for (const k of ['bodystructure', 'body', 'envelope'] as const) {
          if (differs(k, k)) continue;
          assert.deepEqual(ours[k], readImapSexp(exp.dovecot[k]), k);
        }
        for (const [spec, theirs] of Object.entries(exp.dovecot.sections)) {
          if (differs(`section ${spec}`, 'sections')) continue;
          assert.equal(digest(fetchSection(message, root, parseSectionSpec(spec))), theirs, `BODY[${spec}]`);
        }
        for (const [spec, theirs] of Object.entries(exp.dovecot.binary)) {
          if (differs(`binary ${spec}`, 'binary')) continue;
          let mine: string;
          try {
            mine = digest(fetchBinary(message, root, pathOf(spec)) ?? Buffer.alloc(0));
          } catch (e) {
            assert.ok(e instanceof UnknownTransferEncodingError);
            mine = 'NO [UNKNOWN-CTE]';
          }
          assert.equal(mine, theirs, `BINARY[${spec}]`);
        }
      });

      it('has a well-formed part tree whose sections are byte-exact slices', () => {
        const n = message.length;
        for (const [node, parent] of walk(root)) {
          assert.ok(node.headerStart >= 0 && node.headerStart <= node.headerEnd, node.part);
          assert.ok(node.headerEnd <= node.bodyStart && node.bodyStart <= node.bodyEnd && node.bodyEnd <= n, node.part);
          if (parent !== null) {
            assert.ok(node.headerStart >= parent.bodyStart && node.bodyEnd <= parent.bodyEnd, node.part);
          }
          let prev = node.bodyStart;
          for (const c of node.children) {
            assert.ok(c.headerStart >= prev, `${c.part} overlaps its sibling`);
            prev = c.bodyEnd;
          }
          const encapsulated = parent !== null && parent.type === 'message' && parent.children.length === 1;
          if (node.part === '' || encapsulated) continue;
          assert.equal(findPart(root, pathOf(node.part)), node, `findPart(${node.part})`);
          assert.deepEqual(fetchSection(message, root, node.part), message.subarray(node.bodyStart, node.bodyEnd));
          assert.deepEqual(fetchSection(message, root, `${node.part}.MIME`), message.subarray(node.headerStart, node.headerEnd));
        }
        assert.deepEqual(fetchSection(message, root, ''), message);
        assert.deepEqual(fetchSection(message, root, 'HEADER'), message.subarray(root.headerStart, root.headerEnd));
        assert.deepEqual(fetchSection(message, root, 'TEXT'), message.subarray(root.bodyStart, root.bodyEnd));
        // the whole message is covered: header then body, nothing lost
        assert.equal(root.headerStart, 0);
        assert.equal(root.bodyEnd, n);
      });

      it('parses deterministically and survives the stored form', () => {
        const again = analyzeMessage(Buffer.from(message));
        assert.equal(JSON.stringify(again), JSON.stringify(stored));
        const reloaded = JSON.parse(JSON.stringify(stored)) as StoredMime;
        assert.deepEqual(reloaded, stored);
        assert.deepEqual(partsFromStored(reloaded), plain(parseMimeStructure(message).root));
      });
    });
  }
});
