/** The README documents every config key and every command the code has. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { buildProgram } from '../src/cli/main.js';
import { configFromObject } from '../src/config/index.js';

const readme = fs.readFileSync('README.md', 'utf8');

function keyPaths(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => keyPaths(v, prefix ? `${prefix}.${k}` : k));
  }
  return [prefix];
}

test('README documents every config key', () => {
  const missing = keyPaths(configFromObject({})).filter((key) => !readme.includes(`\`${key}\``));
  assert.deepEqual(missing, []);
});

test('README documents every CLI command', () => {
  const missing: string[] = [];
  for (const command of buildProgram().commands) {
    const subs = command.commands.length > 0 ? command.commands.map((s) => `${command.name()} ${s.name()}`) : [command.name()];
    for (const name of subs) if (!readme.includes(`posta ${name}`)) missing.push(name);
  }
  assert.deepEqual(missing, []);
});
