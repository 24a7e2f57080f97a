// `trapezoid serve`: the call server. With no --config it starts the embedded demo: 127.0.0.1:5060
// (UDP and TCP), domain demo.trapezoid, users 1000 and 1001 with fresh random passwords printed at
// start, state in ./trapezoid.db. Thin: the config is chosen and the summary printed here; what
// runs is built by startServer (src/server/start-server.ts).
import { Option, type Command } from 'commander';
import pc from 'picocolors';
import { ConfigError, loadConfig, validateConfig, type ServerConfig } from '../server/config.ts';
import { holdMemoryTarget, stopPretenuring } from '../server/memory-target.ts';
import { createServerLogger, LOG_LEVELS, type LogLevel } from '../server/server-log.ts';
import { startServer } from '../server/start-server.ts';
import { randomPassword } from '../server/users.ts';
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
  if (opts.db) {
    config.database = opts.db;
    config.store.records = `sqlite:${opts.db}`;
  }
  return { config, demo: !opts.config };
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
      const invalid = (err: ConfigError) => {
        process.stderr.write(
          `trapezoid serve: invalid config ${opts.config ?? err.source}:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`,
        );
        process.exit(2);
      };
      let resolved;
      try {
        resolved = resolveConfig(opts);
      } catch (err) {
        if (err instanceof ConfigError) invalid(err);
        throw err;
      }
      const { config, demo } = resolved;
      const users = demo
        ? [
            { user: '1000', password: randomPassword() },
            { user: '1001', password: randomPassword() },
          ]
        : config.users;
      // The process is ours: V8's pretenuring is turned off before any call is carried (see
      // memory-target.ts), and its GC is steered toward the memory target once it runs.
      if (!config.memory.pretenuring) stopPretenuring();
      const logger = createServerLogger({ level: opts.logLevel ?? config.log.level });
      let running;
      try {
        running = await startServer(config, { users, logger });
      } catch (err) {
        if (err instanceof ConfigError) invalid(err);
        throw err;
      }
      const { http, httpAccess, relay, capture } = running;
      // The process is ours: its GC may be steered toward the memory target.
      const releaseMemory = holdMemoryTarget(config.memory.targetMb);

      const summary = {
        event: 'listening',
        domain: config.domain,
        sip: running.sip.map(formatEndpoint),
        http: http.url,
        httpAccess,
        console: `${http.url}/`,
        capture: config.capture.enabled,
        ...(config.hep ? { hep: config.hep.collector } : {}),
        database: config.database,
        store: running.stores.describe,
        node: config.cluster.node,
        memoryTargetMb: config.memory.targetMb,
        pretenuring: config.memory.pretenuring,
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
          `  console   ${summary.console}`,
          `  HTTP API  ${summary.http}/api/registrations  /api/calls  /api/cdrs  /api/bans  /metrics`,
          `            ${httpAccess.token ? `token required (Authorization: Bearer <http.token>)${httpAccess.loopbackOnly ? '' : ', listening beyond loopback'}` : 'loopback only, no token'}; Host: ${['localhost', 'IP addresses', ...httpAccess.hosts].join(', ')}`,
          `  store     records ${running.stores.describe.records}, live state ${running.stores.describe.live}${running.stores.shared ? `  (cluster node ${config.cluster.node})` : ''}`,
          `  media     ${relay ? `relay on ${relay.address} ports ${config.media.ports}` : 'direct (phone to phone)'}`,
          `  memory    ${config.memory.targetMb > 0 ? `target ${config.memory.targetMb} MB resident (soft: memory.targetMb)` : 'V8 sizes the heap (memory.targetMb 0)'}${config.memory.pretenuring ? '' : ', V8 pretenuring off'}`,
          `  capture   ${capture ? `per call, last ${config.capture.maxCalls} calls (/api/calls/{id}/pcap)` : 'off'}${config.hep ? `; HEP to ${config.hep.collector} id ${config.hep.id}` : ''}`,
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
      await running.stop();
      releaseMemory();
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify({ event: 'stopped', security: running.security })}\n`,
        );
      }
    });
}
