// `trapezoid user add|remove|list`: the call server's users, in its SQLite store. Only HA1
// hashes are written; the password is read from --password or asked for nowhere (scripts first).
import type { Command } from 'commander';
import { SqliteStore } from '../store/sqlite-store.ts';
import { randomPassword, userRecord } from '../server/users.ts';
import { resolveConfig } from './serve.ts';

interface StoreOptions {
  config?: string;
  db?: string;
  domain?: string;
  json?: boolean;
}

function open(opts: StoreOptions): { store: SqliteStore; domain: string } {
  const { config } = resolveConfig(opts);
  return { store: new SqliteStore(config.database), domain: opts.domain ?? config.domain };
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
    .action((name: string, opts: StoreOptions & { password?: string; displayName?: string }) => {
      if (!/^[A-Za-z0-9._+-]+$/.test(name)) {
        process.stderr.write(
          `trapezoid user add: "${name}" is not a valid user name (letters, digits, . _ + -)\n`,
        );
        process.exit(2);
      }
      const { store, domain } = open(opts);
      const password = opts.password ?? randomPassword();
      store.putUser(userRecord(name, domain, password, opts.displayName));
      store.close();
      const out = { user: name, domain, ...(opts.password ? {} : { password }) };
      process.stdout.write(
        opts.json
          ? `${JSON.stringify(out)}\n`
          : `added sip:${name}@${domain}${opts.password ? '' : ` password ${password}`}\n`,
      );
    });

  common(user.command('remove <name>').description('remove a user')).action(
    (name: string, opts: StoreOptions) => {
      const { store, domain } = open(opts);
      const removed = store.removeUser(name, domain);
      store.close();
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

  common(user.command('list').description('list users')).action((opts: StoreOptions) => {
    const { store, domain } = open(opts);
    const users = store.listUsers(opts.domain ? domain : undefined);
    store.close();
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
