import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { renderDefaultConfig } from './defaults.js';
import { configFromObject, parseConfigText } from './load.js';
import { configSchema } from './schema.js';

void describe('renderDefaultConfig', () => {
  const text = renderDefaultConfig();

  void it('parses back to exactly the defaults', () => {
    assert.deepEqual(parseConfigText(text, { baseDir: '/srv/posta' }), configFromObject({}, { baseDir: '/srv/posta' }));
  });

  void it('prints durations and sizes in their human form, under their sections', () => {
    assert.match(text, /\n\[limits\]\n(#.*\n)*message_size = "25MB"\n/);
    assert.match(text, /\n\[queue\]\n(#.*\n)*retry_min = "5m"\n/);
    assert.match(text, /\nlifetime = "5d"\n/);
    assert.match(text, /\nservers = \[\]\n/);
    // Top-level keys must precede the first table, or TOML would put them inside it.
    assert.ok(text.indexOf('workers = 0') < text.indexOf('[listen]'));
  });

  void it('puts a doc comment above every key and section', () => {
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (/^(\w+ = |\[)/.test(line)) assert.match(lines[i - 1], /^# /, `no doc comment above ${line}`);
    });
  });

  void it('covers every key of the schema, each with a description', () => {
    const walk = (schema: z.ZodType, at: string): string[] => {
      const def = schema.def as { type: string; innerType?: z.ZodType; shape?: Record<string, z.ZodType> };
      if (def.type === 'prefault') return walk(def.innerType!, at);
      if (def.type !== 'object') return [at];
      return Object.entries(def.shape!).flatMap(([k, s]) => {
        assert.ok(s.description, `${at}${k} has no .describe()`);
        return walk(s, `${at}${k}.`).map((p) => p.replace(/\.$/, ''));
      });
    };
    const keys = walk(configSchema, '');
    assert.ok(keys.length >= 30, `only ${keys.length} keys`);
    for (const key of keys) assert.match(text, new RegExp(`^${key.split('.').at(-1)} = `, 'm'), key);
  });
});
