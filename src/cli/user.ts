// `trapezoid user add|remove|list`: the call server's users, in its records store (SQLite or PostgreSQL). Only HA1
// hashes are written; the password is read from --password or asked for nowhere (scripts first).
import type { Command } from 'commander';
import { openRecords, type RecordStores } from '../store/open-stores.ts';
import { storeUrls } from '../server/config.ts';
import { randomPassword, userRecord } from '../server/users.ts';
import { resolveConfig } from './serve.ts';

interface StoreOptions {
  config?: string;
  db?: string;
  domain?: string;
  json?: boolean;
}

async function open(opts: StoreOptions): Promise<{ records: RecordStores; domain: string }> {
  const { config } = resolveConfig(opts);
  const records = await openRecords(storeUrls(config), { node: config.cluster.node });
  return { records, domain: opts.domain ?? config.domain };
}

export function register(program: Command): void {
  const user = program
    .command('user')
    .description("manage the call server's users (HA1 hashes in its database)");
  const common = (c: Command) =>
    c
      .option('-c, --config <file>', 'configuration whose database and domain to use')
      .option('--db <path>', 'SQLite database file (default ./trapezoid.db)')
      .option(
        '--domain <domain>',
        'domain (realm) of the user (default: the config domain or demo.trapezoid)',
      )
      .option('--json', 'JSON output');

  common(user.command('add <name>').description('add or update a user'))
    .option('-p, --password <password>', 'password (default: a random one, printed)')
    .option('--display-name <name>', 'display name')
    .action(
      async (name: string, opts: StoreOptions & { password?: string; displayName?: string }) => {
        if (!/^[A-Za-z0-9._+-]+$/.test(name)) {
          process.stderr.write(
            `trapezoid user add: "${name}" is not a valid user name (letters, digits, . _ + -)\n`,
          );
          process.exit(2);
        }
        const { records, domain } = await open(opts);
        const password = opts.password ?? randomPassword();
        await records.users
          .putUser(userRecord(name, domain, password, opts.displayName))
          .finally(() => records.close());
        const out = { user: name, domain, ...(opts.password ? {} : { password }) };
        process.stdout.write(
          opts.json
            ? `${JSON.stringify(out)}\n`
            : `added sip:${name}@${domain}${opts.password ? '' : ` password ${password}`}\n`,
        );
      },
    );

  common(user.command('remove <name>').description('remove a user')).action(
    async (name: string, opts: StoreOptions) => {
      const { records, domain } = await open(opts);
      const removed = await records.users.removeUser(name, domain).finally(() => records.close());
      if (!removed) {
        process.stderr.write(`trapezoid user remove: no user ${name} in ${domain}\n`);
        process.exit(1);
      }
      process.stdout.write(
        opts.json
          ? `${JSON.stringify({ removed: name, domain })}\n`
          : `removed sip:${name}@${domain}\n`,
      );
    },
  );

  common(user.command('list').description('list users')).action(async (opts: StoreOptions) => {
    const { records, domain } = await open(opts);
    const users = await records.users
      .listUsers(opts.domain ? domain : undefined)
      .finally(() => records.close());
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify(users.map((u) => ({ user: u.user, domain: u.domain, displayName: u.displayName ?? null })))}\n`,
      );
      return;
    }
    for (const u of users)
      process.stdout.write(
        `sip:${u.user}@${u.domain}${u.displayName ? `  "${u.displayName}"` : ''}\n`,
      );
  });
}
