#!/usr/bin/env node
/**
 * The `posta` command (DESIGN.md §6). Account and queue commands open the store directly,
 * so they work while the server runs (SQLite WAL lets readers and one writer share it).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ConfigError, UsageError } from '../errors/index.js';
import { registerAccountCommands } from './account-commands.js';
import { registerConfigCommands } from './config-commands.js';
import { registerQueueCommands } from './queue-commands.js';
import { registerServeCommand } from './serve-command.js';

export function buildProgram(): Command {
  const program = new Command('posta')
    .description('Pošta: an all-in-one mail server (SMTP, submission, IMAP, POP3)')
    .showHelpAfterError()
    .exitOverride();
  registerServeCommand(program);
  registerAccountCommands(program);
  registerQueueCommands(program);
  registerConfigCommands(program);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`posta: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`posta: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

function isMainModule(): boolean {
  if (!process.argv[1]) return false;
  try {
    // argv[1] may be the node_modules/.bin/posta symlink; the module URL is the real file.
    return fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

// Run when executed directly (not when imported by tests).
if (isMainModule()) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`posta: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
