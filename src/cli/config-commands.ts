/** `posta config check|defaults` */
import type { Command } from 'commander';
import { renderDefaultConfig } from '../config/index.js';
import { addConfigOption, loadCliConfig, print, type ConfigOption } from './context.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('check the config file or print the annotated defaults');
  addConfigOption(config.command('check').description('validate the config file; exits non-zero naming the bad key')).action(
    (opts: ConfigOption) => {
      const { source } = loadCliConfig(opts);
      print(source ? `${source}: ok` : 'no config file found; the built-in defaults are valid');
    },
  );
  config
    .command('defaults')
    .description('print the annotated sample config with every key and its default')
    .action(() => {
      process.stdout.write(renderDefaultConfig());
    });
}
