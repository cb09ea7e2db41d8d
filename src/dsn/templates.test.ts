import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DSN_LANGUAGES } from '../config/index.js';
import { explain, formatHumanDate, wrap } from './human-text.js';
import { DSN_TEMPLATES, dsnTemplate, fillTemplate } from './templates.js';

/** Every string in a template, by its path: "sections.delayed.next" → text. */
function strings(value: unknown, path = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof value === 'string') out.set(path, value);
  else if (Array.isArray(value)) value.forEach((v, i) => strings(v, `${path}[${i}]`).forEach((s, p) => out.set(p, s)));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) strings(v, path ? `${path}.${k}` : k).forEach((s, p) => out.set(p, s));
  }
  return out;
}

const placeholders = (s: string) => [...s.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]).sort();

describe('DSN templates', () => {
  it('exist for every configurable language', () => {
    for (const lang of DSN_LANGUAGES) assert.ok(DSN_TEMPLATES[lang], lang);
  });

  it('have the same entries and placeholders in every language', () => {
    const en = strings(DSN_TEMPLATES.en);
    for (const lang of DSN_LANGUAGES) {
      const other = strings(DSN_TEMPLATES[lang]);
      assert.deepEqual([...other.keys()].sort(), [...en.keys()].sort(), lang);
      for (const [path, text] of en) assert.deepEqual(placeholders(other.get(path) ?? ''), placeholders(text), `${lang} ${path}`);
    }
  });

  it('have the exact subjects', () => {
    assert.deepEqual(DSN_TEMPLATES.en.subject, {
      failure: 'Undelivered Mail Returned to Sender',
      delay: 'Delayed Mail (still being retried)',
      success: 'Successful Mail Delivery Report',
    });
    assert.deepEqual(DSN_TEMPLATES.sl.subject, {
      failure: 'Nedostavljeno sporočilo vrnjeno pošiljatelju',
      delay: 'Zakasnjena dostava sporočila (še poskušamo)',
      success: 'Poročilo o uspešni dostavi sporočila',
    });
  });

  it('fall back to English for an unknown language', () => {
    assert.equal(dsnTemplate('xx'), DSN_TEMPLATES.en);
    assert.equal(dsnTemplate('__proto__'), DSN_TEMPLATES.en);
  });
});

describe('fillTemplate', () => {
  it('fills in one pass, so values are never expanded again', () => {
    assert.equal(fillTemplate('until {date}, {host}', { date: '{host}', host: 'mx' }), 'until {host}, mx');
    assert.equal(fillTemplate('{unknown} {toString}', {}), '{unknown} {toString}');
  });
});

describe('explain', () => {
  it('looks up subject.detail, then subject', () => {
    const en = DSN_TEMPLATES.en;
    assert.equal(explain('5.1.1', en), en.explanations['1.1']);
    assert.equal(explain('4.2.2', en), en.explanations['2.2']);
    assert.equal(explain('5.1.10', en), en.explanations['1.10']);
    assert.equal(explain('5.7.26', en), en.explanations['7']);
    assert.equal(explain('5.0.0', en), null);
    assert.equal(explain('550', en), null);
  });
});

describe('formatHumanDate', () => {
  it('writes UTC dates in each language', () => {
    const t = Date.UTC(2027, 0, 5, 3, 4, 59);
    assert.equal(formatHumanDate(t, DSN_TEMPLATES.en), '5 January 2027, 03:04 UTC');
    assert.equal(formatHumanDate(t, DSN_TEMPLATES.sl), '5. januarja 2027 ob 03:04 (UTC)');
    assert.equal(formatHumanDate(NaN, DSN_TEMPLATES.en), '');
  });
});

describe('wrap', () => {
  it('wraps at 72 columns with indents, keeping long words whole', () => {
    const lines = wrap('word '.repeat(40).trim(), '  ', '    ');
    assert.ok(lines.every((l) => [...l].length <= 72));
    assert.ok(lines[0].startsWith('  word') && lines[1].startsWith('    word'));
    assert.deepEqual(wrap('x'.repeat(100)), ['x'.repeat(100)]);
    assert.deepEqual(wrap(''), []);
  });
});
