// `trapezoid serve`: the call server. With no --config it starts the embedded demo: 127.0.0.1:5060
// (UDP and TCP), domain demo.trapezoid, users 1000 and 1001 with fresh random passwords printed at
// start, state in ./trapezoid.db.
import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import pc from 'picocolors';
import { CallServer } from '../server/call-server.ts';
import {
  ConfigError,
  loadConfig,
  mediaRelayAddress,
  validateConfig,
  type ServerConfig,
} from '../server/config.ts';
import { MediaRelay } from '../server/media-relay.ts';
import { HttpApi, isLoopbackAddress } from '../server/http-api.ts';
import { SecurityGuard } from '../server/security-guard.ts';
import { createServerLogger, LOG_LEVELS, type LogLevel } from '../server/server-log.ts';
import { provisionUsers, randomPassword } from '../server/users.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { formatEndpoint } from '../transport/index.ts';

export interface ServeOptions {
  config?: string;
  db?: string;
  json?: boolean;
  logLevel?: LogLevel;
}

/** The config to run: the file's, or the embedded demo with two users and fresh passwords. */
export function resolveConfig(opts: { config?: string; db?: string }): {
  config: ServerConfig;
  demo: boolean;
} {
  const config = opts.config ? loadConfig(opts.config) : validateConfig({});
  if (opts.db) config.database = opts.db;
  return { config, demo: !opts.config };
}

/**
 * The security settings the guard runs with: a trunk is recognised by its address (its
 * inboundAddresses, else its peers' host:port), so those addresses are trusted like
 * security.trustedSources: a provider's call volume is not a flood to ban.
 */
export function trustingTrunks(config: ServerConfig): ServerConfig['security'] {
  const trunkSources = config.trunks.flatMap(
    (t) =>
      t.inboundAddresses ??
      t.peers.map(
        (p) =>
          `${p.host.includes(':') && !p.host.startsWith('[') ? `[${p.host}]` : p.host}:${p.port}`,
      ),
  );
  return {
    ...config.security,
    trustedSources: [...config.security.trustedSources, ...trunkSources],
  };
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'run the call server (no --config: the demo on 127.0.0.1:5060 with users 1000 and 1001)',
    )
    .option('-c, --config <file>', 'YAML configuration (see examples/)')
    .option('--db <path>', 'SQLite database file (overrides the config)')
    .option('--json', 'print the start-up summary as one JSON line')
    .addOption(
      new Option(
        '--log-level <level>',
        'log level (overrides log.level; the log is JSON lines on stderr, readable on a TTY)',
      ).choices(LOG_LEVELS),
    )
    .action(async (opts: ServeOptions) => {
      let resolved;
      try {
        resolved = resolveConfig(opts);
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(
            `trapezoid serve: invalid config ${err.source}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`,
          );
          process.exit(2);
        }
        throw err;
      }
      const { config, demo } = resolved;
      const store = new SqliteStore(config.database);
      const users = demo
        ? [
            { user: '1000', password: randomPassword() },
            { user: '1001', password: randomPassword() },
          ]
        : config.users;
      provisionUsers(store, config.domain, users);
      let tls: { key: Buffer; cert: Buffer } | undefined;
      if (config.tls) {
        try {
          tls = { key: readFileSync(config.tls.key), cert: readFileSync(config.tls.cert) };
        } catch (err) {
          process.stderr.write(
            `trapezoid serve: cannot read tls.key / tls.cert: ${(err as Error).message}\n`,
          );
          process.exit(2);
        }
      }
      const logger = createServerLogger({ level: opts.logLevel ?? config.log.level });
      const guard = new SecurityGuard(trustingTrunks(config), { logger });
      let relay: MediaRelay | undefined;
      if (config.media.mode === 'relay') {
        relay = new MediaRelay({
          address: mediaRelayAddress(config),
          ports: config.media.ports,
          timeoutSeconds: config.media.timeoutSeconds,
        });
        await relay.ready();
      }
      const server = new CallServer({
        config,
        store,
        logger,
        guard,
        ...(tls ? { tls } : {}),
        ...(relay ? { relay } : {}),
      });
      const listening = await server.start();
      const api = new HttpApi(server, store, {
        bans: () => guard.bans(),
        security: () => guard.stats,
        access: { token: config.http.token, hosts: config.http.hosts },
      });
      const http = await api.listen(config.http.address, config.http.port);
      logger.info(
        { event: 'listening', transport: 'http', address: http.address, port: http.port },
        `HTTP API listening on http://${http.address}:${http.port}`,
      );
      // Who may use the API: the token, and the Host names besides localhost and IP addresses.
      const httpAccess = {
        token: api.tokenRequired,
        loopbackOnly: isLoopbackAddress(config.http.address),
        hosts: config.http.hosts,
      };

      const summary = {
        event: 'listening',
        domain: config.domain,
        sip: listening.map(formatEndpoint),
        http: `http://${http.address}:${http.port}`,
        httpAccess,
        database: config.database,
        media: relay
          ? { mode: 'relay', address: relay.address, ports: config.media.ports }
          : { mode: 'direct' },
        users: demo
          ? users.map((u) => ({ user: u.user, password: u.password }))
          : users.map((u) => ({ user: u.user })),
      };
      if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      else {
        const out = [
          pc.bold(`trapezoid call server${demo ? ' (embedded demo)' : ''}`),
          `  domain    ${config.domain}`,
          `  SIP       ${summary.sip.join(', ')}`,
          `  HTTP API  ${summary.http}/api/registrations  /api/calls  /api/cdrs  /api/bans  /metrics`,
          `            ${httpAccess.token ? `token required (Authorization: Bearer <http.token>)${httpAccess.loopbackOnly ? '' : ', listening beyond loopback'}` : 'loopback only, no token'}; Host: ${['localhost', 'IP addresses', ...httpAccess.hosts].join(', ')}`,
          `  database  ${config.database}`,
          `  media     ${relay ? `relay on ${relay.address} ports ${config.media.ports}` : 'direct (phone to phone)'}`,
        ];
        if (demo) {
          out.push('  demo users (new passwords at every start):');
          for (const u of users)
            out.push(`    sip:${u.user}@${config.domain}  password ${pc.bold(u.password!)}`);
        }
        process.stdout.write(out.join('\n') + '\n');
      }

      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await api.close();
      await server.stop();
      await relay?.close();
      store.close();
      const stopped = { event: 'stopped', security: guard.stats };
      if (opts.json) process.stdout.write(`${JSON.stringify(stopped)}\n`);
      logger.info({ event: 'stopped', security: guard.stats }, 'stopped');
      logger.flush();
    });
}
