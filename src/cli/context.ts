/**
 * What every command shares: the --config option, loading the config, and opening the
 * store for the duration of one command.
 */
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/index.js';
import { openStore } from '../main.js';
import type { Store } from '../store/types.js';

export interface ConfigOption {
  config?: string;
}

export function addConfigOption(command: Command): Command {
  return command.option('-c, --config <file>', 'config file (default: $POSTA_CONFIG, then ./posta.toml, then built-in defaults)');
}

export function loadCliConfig(options: ConfigOption): { config: Config; source: string | null } {
  return loadConfig({ file: options.config, env: process.env, cwd: process.cwd() });
}

/** Runs `fn` with the store open, and closes it afterwards whatever happens. */
export async function withStore<T>(options: ConfigOption, fn: (store: Store, config: Config) => Promise<T>): Promise<T> {
  const { config } = loadCliConfig(options);
  const store = openStore(config);
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

export function print(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Reads all of standard input (for --password-stdin); trailing newline removed. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
