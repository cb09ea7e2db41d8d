/** `posta domain|user|alias …` */
import type { Command } from 'commander';
import { AccountAdmin, generatePassword } from '../admin/accounts.js';
import { formatSize, parseSize } from '../config/index.js';
import { UsageError } from '../errors/index.js';
import { displayDomain, formatMailbox, splitStoredAddress } from '../mail/address.js';
import { addConfigOption, print, readStdin, withStore, type ConfigOption } from './context.js';

interface PasswordOptions extends ConfigOption {
  password?: string;
  passwordStdin?: boolean;
}

export function registerAccountCommands(program: Command): void {
  const domain = program.command('domain').description('manage the mail domains this server receives for');
  addConfigOption(domain.command('add <name>').description('add a domain (Unicode names are stored as IDNA A-labels)')).action(
    (name: string, opts: ConfigOption) =>
      withStore(opts, async (store) => {
        const record = await new AccountAdmin(store).addDomain(name);
        print(`added domain ${displayDomain(record.name)}${record.name !== displayDomain(record.name) ? ` (${record.name})` : ''}`);
      }),
  );
  addConfigOption(domain.command('list').description('list domains')).action((opts: ConfigOption) =>
    withStore(opts, async (store) => {
      for (const d of await new AccountAdmin(store).listDomains()) {
        const shown = displayDomain(d.name);
        print(`${shown}${shown !== d.name ? ` (${d.name})` : ''}${d.catchAll ? `  catch-all: ${d.catchAll}` : ''}`);
      }
    }),
  );
  addConfigOption(domain.command('remove <name>').description('remove a domain with all its users, aliases and mail')).action(
    (name: string, opts: ConfigOption) =>
      withStore(opts, async (store) => {
        await new AccountAdmin(store).removeDomain(name);
        print(`removed domain ${name}`);
      }),
  );
  addConfigOption(
    domain
      .command('catchall <name> [localpart]')
      .description('send mail for unknown addresses of the domain to LOCALPART@NAME; without LOCALPART, turn it off'),
  ).action((name: string, localPart: string | undefined, opts: ConfigOption) =>
    withStore(opts, async (store) => {
      await new AccountAdmin(store).setCatchAll(name, localPart ?? null);
      print(localPart ? `catch-all for ${name}: ${localPart}@${name}` : `catch-all for ${name} turned off`);
    }),
  );

  const user = program.command('user').description('manage user accounts');
  addConfigOption(
    user
      .command('add <address>')
      .description('add a user with the standard mailboxes; without a password option one is generated and printed')
      .option('--password <password>', 'the password (visible in the process list; prefer --password-stdin)')
      .option('--password-stdin', 'read the password from standard input')
      .option('--quota <size>', 'mailbox quota, e.g. 2GB (0 = unlimited)', '0'),
  ).action((address: string, opts: PasswordOptions & { quota: string }) =>
    withStore(opts, async (store) => {
      const { password, generated } = await choosePassword(opts);
      let quotaBytes: number;
      try {
        quotaBytes = parseSize(opts.quota);
      } catch {
        throw new UsageError(`--quota: "${opts.quota}" is not a size; write e.g. 500MB or 2GB`);
      }
      const account = await new AccountAdmin(store).addUser(address, password, { quotaBytes });
      print(`added user ${formatMailbox({ local: account.localPart, domain: account.domain }, { unicode: true })}`);
      if (generated) print(`password: ${password}`);
    }),
  );
  addConfigOption(user.command('list [domain]').description('list users, of one domain or all')).action(
    (domainName: string | undefined, opts: ConfigOption) =>
      withStore(opts, async (store) => {
        for (const a of await new AccountAdmin(store).listUsers(domainName)) {
          const quota = a.quotaBytes > 0 ? `  quota ${formatSize(a.quotaBytes)}` : '';
          print(`${formatMailbox({ local: a.localPart, domain: a.domain }, { unicode: true })}${quota}`);
        }
      }),
  );
  addConfigOption(
    user
      .command('passwd <address>')
      .description("set a user's password; without a password option one is generated and printed")
      .option('--password <password>', 'the new password')
      .option('--password-stdin', 'read the new password from standard input'),
  ).action((address: string, opts: PasswordOptions) =>
    withStore(opts, async (store) => {
      const { password, generated } = await choosePassword(opts);
      await new AccountAdmin(store).setPassword(address, password);
      print(`password of ${address} changed`);
      if (generated) print(`password: ${password}`);
    }),
  );
  addConfigOption(user.command('remove <address>').description('remove a user and all their mail')).action(
    (address: string, opts: ConfigOption) =>
      withStore(opts, async (store) => {
        await new AccountAdmin(store).removeUser(address);
        print(`removed user ${address}`);
      }),
  );

  const alias = program.command('alias').description('manage aliases (an address that forwards to others)');
  addConfigOption(alias.command('add <address> <targets...>').description('add an alias delivering to one or more addresses')).action(
    (address: string, targets: string[], opts: ConfigOption) =>
      withStore(opts, async (store) => {
        const record = await new AccountAdmin(store).addAlias(address, targets);
        print(`added alias ${record.localPart}@${displayDomain(record.domain)} -> ${record.targets.join(', ')}`);
      }),
  );
  addConfigOption(alias.command('list [domain]').description('list aliases')).action(
    (domainName: string | undefined, opts: ConfigOption) =>
      withStore(opts, async (store) => {
        for (const a of await new AccountAdmin(store).listAliases(domainName)) {
          const targets = a.targets.map((t) => {
            const { local, domain } = splitStoredAddress(t);
            return `${local}@${displayDomain(domain)}`;
          });
          print(`${formatMailbox({ local: a.localPart, domain: a.domain }, { unicode: true })} -> ${targets.join(', ')}`);
        }
      }),
  );
  addConfigOption(alias.command('remove <address>').description('remove an alias')).action((address: string, opts: ConfigOption) =>
    withStore(opts, async (store) => {
      await new AccountAdmin(store).removeAlias(address);
      print(`removed alias ${address}`);
    }),
  );
}

async function choosePassword(opts: PasswordOptions): Promise<{ password: string; generated: boolean }> {
  if (opts.password !== undefined && opts.passwordStdin) {
    throw new UsageError('give either --password or --password-stdin, not both');
  }
  if (opts.password !== undefined) return { password: opts.password, generated: false };
  if (opts.passwordStdin) return { password: await readStdin(), generated: false };
  return { password: generatePassword(), generated: true };
}
