/**
 * Finding, reading and validating the config file (DESIGN.md §6).
 * Every problem becomes a ConfigError naming the dotted key and saying how to fix it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { ConfigError } from '../errors/index.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';

export interface LoadOptions {
  /** `--config FILE`; wins over everything else. */
  file?: string;
  /** Environment to read POSTA_CONFIG from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where relative paths start and where ./posta.toml is looked for (default: process.cwd()). */
  cwd?: string;
}

/** Parse TOML text into a validated Config. Relative paths resolve against `baseDir`. */
export function parseConfigText(text: string, opts: { baseDir: string; sourceName?: string }): Config {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // smol-toml's message is "Invalid TOML document: <what>\n\n<code excerpt>"; keep the excerpt for context.
    const what = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
    const where = `${opts.sourceName ?? '<config>'}:${err.line}:${err.column}`;
    throw new ConfigError('', `${where}: TOML syntax error: ${what}; fix the line shown below\n\n${err.codeblock}`);
  }
  return validate(raw, opts.baseDir);
}

/**
 * Build a Config from a plain object, with the same validation and defaults as a file.
 * Durations and sizes may be text ("5m", "25MB") or numbers (ms, bytes), so a finished Config
 * can be passed back in with a few keys changed.
 */
export function configFromObject(partial: ConfigInput, opts: { baseDir?: string } = {}): Config {
  return validate(partial, opts.baseDir ?? process.cwd());
}

/**
 * Which config file to use: the explicit file, else $POSTA_CONFIG, else ./posta.toml if it exists,
 * else null (built-in defaults). An explicit or env file that is missing is an error, because
 * silently running on defaults would hide a typo in the path.
 */
export function locateConfigFile(opts: LoadOptions = {}): string | null {
  const cwd = opts.cwd ?? process.cwd();
  const env = opts.env ?? process.env;
  if (opts.file !== undefined && opts.file !== '') return mustExist(path.resolve(cwd, opts.file), '--config');
  const fromEnv = env.POSTA_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return mustExist(path.resolve(cwd, fromEnv), 'POSTA_CONFIG');
  const local = path.join(cwd, 'posta.toml');
  return existsSync(local) ? local : null;
}

/** Locate, read and validate the config. `source` is the file used, or null for built-in defaults. */
export function loadConfig(opts: LoadOptions = {}): { config: Config; source: string | null } {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const source = locateConfigFile({ ...opts, cwd });
  if (source === null) return { config: configFromObject({}, { baseDir: cwd }), source };
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read config file "${source}": ${(err as Error).message}; check its permissions`);
  }
  return { config: parseConfigText(text, { baseDir: path.dirname(source), sourceName: source }), source };
}

function mustExist(file: string, from: string): string {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw new ConfigError(from, `config file "${file}" does not exist; check the path, or unset ${from} to use ./posta.toml or the built-in defaults`);
  }
  if (!isFile) throw new ConfigError(from, `"${file}" is not a file; give the path of a TOML config file`);
  return file;
}

function validate(raw: unknown, baseDir: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw toConfigError(result.error.issues);
  const config = result.data;
  // Paths are made absolute once here so no other module depends on the process's cwd.
  const base = path.resolve(baseDir);
  config.data_dir = path.resolve(base, config.data_dir);
  if (config.tls.cert !== '') config.tls.cert = path.resolve(base, config.tls.cert);
  if (config.tls.key !== '') config.tls.key = path.resolve(base, config.tls.key);
  return config;
}

/** Turn zod issues into one ConfigError: `key` is the first problem's key; the message lists all. */
function toConfigError(issues: readonly z.core.$ZodIssue[]): ConfigError {
  const problems: { key: string; message: string }[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        problems.push({ key: dotted([...issue.path, k]), message: `unknown key "${k}"; remove it or check the spelling (see posta config defaults)` });
      }
    } else {
      problems.push({ key: dotted(issue.path), message: issue.message });
    }
  }
  const [first, ...rest] = problems;
  return new ConfigError(first.key, [first.message, ...rest.map((p) => `config: ${p.key}: ${p.message}`)].join('\n'));
}

/** ["dns", "servers", 0] → "dns.servers[0]". */
function dotted(p: readonly PropertyKey[]): string {
  return p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}
