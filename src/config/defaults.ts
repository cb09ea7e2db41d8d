/**
 * `posta config defaults`: the annotated sample config, generated from the schema so the
 * documentation can never disagree with what the loader accepts.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchemaNode>;
}

const WIDTH = 78;

/** Render the default config as TOML, each key preceded by its doc string as comments. */
export function renderDefaultConfig(): string {
  // The input-side JSON Schema carries the doc strings and the defaults as written in TOML
  // ("25MB", "5m"), which is exactly what the sample should show.
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const out = comment(
    'Pošta configuration. Every key below is set to its default; delete the ones you do not change. ' +
      'Durations take ms, s, m, h or d ("1h30m"). Sizes take KB, MB or GB, binary (1MB = 1048576 bytes). ' +
      'Relative paths are resolved against the directory of this file. Unknown keys are errors.',
  );
  const entries = Object.entries(root.properties ?? {});
  // TOML needs the top-level keys before the first [table].
  for (const [key, node] of entries.filter(([, n]) => !isTable(n))) out.push('', ...renderKey(key, node));
  for (const [name, table] of entries.filter(([, n]) => isTable(n))) {
    out.push('', ...comment(table.description), `[${name}]`);
    for (const [key, node] of Object.entries(table.properties ?? {})) out.push(...renderKey(key, node));
  }
  return out.join('\n') + '\n';
}

function isTable(node: JsonSchemaNode): boolean {
  return node.type === 'object';
}

function renderKey(key: string, node: JsonSchemaNode): string[] {
  if (node.default === undefined) throw new Error(`config schema: ${key} has no default`);
  return [...comment(node.description), `${key} = ${tomlValue(node.default)}`];
}

function tomlValue(v: unknown): string {
  // JSON string escapes are a subset of TOML basic-string escapes, so JSON.stringify is valid TOML here.
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  throw new Error(`config schema: cannot print default ${String(v)} as TOML`);
}

/** Word-wrap a doc string into "# " lines. */
function comment(text: string | undefined): string[] {
  if (!text) return [];
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > WIDTH && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}
