// The call server started from code: `startServer(config)` builds and starts everything
// `trapezoid serve` runs (store and users, security guard, media relay, HEP out, the SIP
// listeners, per-call capture, the HTTP API and console) and hands back what it started and a
// `stop()`. It is the composition root: `trapezoid serve` (src/cli/serve.ts) only chooses the
// config, calls this, prints the summary and waits for a signal.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { formatHostPort } from '../sip/index.ts';
import { openStores, type Stores } from '../store/open-stores.ts';
import type { Endpoint } from '../transport/index.ts';
import { CallCapture } from './call-capture.ts';
import { CallServer } from './call-server.ts';
import { CallTap } from './call-tap.ts';
import {
  ConfigError,
  mediaRelayAddress,
  storeUrls,
  validateConfig,
  type configSchema,
  type ServerConfig,
} from './config.ts';
import { HepSender } from './hep-sender.ts';
import { HttpApi, isLoopbackAddress } from './http-api.ts';
import { MediaRelay } from './media-relay.ts';
import { SecurityGuard, type SecurityStats } from './security-guard.ts';
import { createServerLogger, type Logger } from './server-log.ts';
import { provisionUsers } from './users.ts';

/** A config as written (YAML or an object literal): every section optional, as in the file. */
export type ServerConfigInput = z.input<typeof configSchema>;

/** A user of the server: a password (its HA1s are stored, never it) or the HA1s themselves. */
export type ServerUser = ServerConfig['users'][number];

export interface StartServerOptions {
  /** The users written to the store at start (default: the config's `users`). */
  users?: readonly ServerUser[];
  /** Where the server says what it does (default: pino at `log.level` on stderr). */
  logger?: Logger;
}

/** Who may use the HTTP API (as `trapezoid serve` prints it). */
export interface HttpAccess {
  /** Requests must carry `Authorization: Bearer <http.token>`. */
  token: boolean;
  loopbackOnly: boolean;
  /** Host names answered besides localhost and IP literals. */
  hosts: readonly string[];
  readWithoutToken: boolean;
}

/** A started call server. */
export interface RunningServer {
  /** The config it runs, validated and with its defaults. */
  readonly config: ServerConfig;
  /** The SIP listeners as bound (a port 0 in the config is the port the system chose). */
  readonly sip: readonly Endpoint[];
  /** The HTTP API and console: `url` is `http://address:port`. */
  readonly http: { address: string; port: number; url: string };
  readonly httpAccess: HttpAccess;
  readonly callServer: CallServer;
  /** The node's stores (config `store`: SQLite by default, Redis and PostgreSQL for a cluster). */
  readonly stores: Stores;
  /** The media relay (config `media.mode: relay`). */
  readonly relay: MediaRelay | undefined;
  /** The per-call capture ring (config `capture.enabled`). */
  readonly capture: CallCapture | undefined;
  readonly logger: Logger;
  /** What the security guard did since the start. */
  readonly security: SecurityStats;
  /** Stops listening, ends calls' media, closes the store; the same promise on every call. */
  stop(): Promise<void>;
}

/**
 * Starts the call server. `config` is validated as a config file is (a `ConfigError` lists every
 * problem with its path); `config.tls` key and certificate are read here (a `ConfigError` names
 * the one that cannot be read). Whatever was started is closed again when a step fails.
 */
export async function startServer(
  config: ServerConfigInput,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const checked = validateConfig(config);
  const tls = readTls(checked);
  const logger = options.logger ?? createServerLogger({ level: checked.log.level });
  const closers: Array<() => unknown> = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close();
    closers.length = 0;
  };
  try {
    const stores = await openStores(storeUrls(checked), {
      node: checked.cluster.node,
      sqliteCacheMb: checked.memory.sqliteCacheMb,
      onError: (engine, err) =>
        logger.warn(
          { event: 'store.error', engine, error: err.message },
          `${engine}: ${err.message}`,
        ),
    });
    closers.push(() => stores.close());
    await provisionUsers(stores.users, checked.domain, options.users ?? checked.users);

    // Bans are shared through the security store: one node's ban drops the source on every node.
    const guard = new SecurityGuard(trustingTrunks(checked), {
      logger,
      store: stores.security,
      node: checked.cluster.node,
    });
    await guard.start();
    closers.push(() => guard.stop());
    let relay: MediaRelay | undefined;
    if (checked.media.mode === 'relay') {
      relay = new MediaRelay({
        address: mediaRelayAddress(checked),
        ports: checked.media.ports,
        timeoutSeconds: checked.media.timeoutSeconds,
      });
      const started = relay;
      closers.push(() => started.close());
      await relay.ready();
    }
    // HEP out: every SIP message on the wire, to the collector.
    const hep = checked.hep ? new HepSender(checked.hep) : undefined;
    if (hep) closers.push(() => hep.close());

    const callServer = new CallServer({
      config: checked,
      stores,
      logger,
      guard,
      ...(tls ? { tls } : {}),
      ...(relay ? { relay } : {}),
      ...(hep ? { wireTap: (data, src, dst, ts) => hep.sip(ts, src, dst, data) } : {}),
    });
    closers.push(() => callServer.stop());
    const sip = await callServer.start();

    const { rtp, ...limits } = checked.capture;
    const capture = checked.capture.enabled ? new CallCapture({ ...limits, rtp }) : undefined;
    // The relayed RTP of a call goes into its capture; without this the relay's tap stays unset.
    if (relay && capture && rtp !== 'none') {
      const relayAddress = relay.address;
      relay.packetTap = (p) => capture.relayed(p, relayAddress);
    }
    const api = new HttpApi(callServer, stores, {
      bans: () => guard.bans(),
      unban: (address) => guard.liftBan(address),
      security: () => guard.stats,
      access: {
        token: checked.http.token,
        hosts: checked.http.hosts,
        readWithoutToken: checked.http.readWithoutToken,
      },
      ...(capture ? { capture } : {}),
    });
    // The console's live feed and the per-call capture see each call's messages.
    callServer.calls.tap = new CallTap(capture, api.feed);
    const bound = await api.listen(checked.http.address, checked.http.port);
    closers.push(() => api.close());
    const http = {
      address: bound.address,
      port: bound.port,
      url: `http://${formatHostPort(bound.address, bound.port)}`,
    };
    logger.info(
      { event: 'listening', transport: 'http', address: http.address, port: http.port },
      `HTTP API listening on ${http.url}`,
    );

    let stopping: Promise<void> | undefined;
    return {
      config: checked,
      sip,
      http,
      httpAccess: {
        token: api.tokenRequired,
        loopbackOnly: isLoopbackAddress(checked.http.address),
        hosts: checked.http.hosts,
        readWithoutToken: checked.http.readWithoutToken,
      },
      callServer,
      stores,
      relay,
      capture,
      logger,
      get security() {
        return guard.stats;
      },
      stop() {
        stopping ??= closeAll().then(() => {
          logger.info({ event: 'stopped', security: guard.stats }, 'stopped');
          logger.flush();
        });
        return stopping;
      },
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}

/**
 * The security settings the guard runs with: a trunk is recognised by its address (its
 * inboundAddresses, else its peers' host:port), so those addresses are trusted like
 * security.trustedSources: a provider's call volume is not a flood to ban.
 */
export function trustingTrunks(config: ServerConfig): ServerConfig['security'] {
  const trunkSources = config.trunks.flatMap(
    (t) => t.inboundAddresses ?? t.peers.map((p) => formatHostPort(p.host, p.port)),
  );
  return {
    ...config.security,
    trustedSources: [...config.security.trustedSources, ...trunkSources],
  };
}

/** The PEM key and certificate named by config.tls, read now so a bad path fails the start. */
function readTls(config: ServerConfig): { key: Buffer; cert: Buffer } | undefined {
  if (!config.tls) return undefined;
  const read = (field: 'key' | 'cert') => {
    try {
      return readFileSync(config.tls![field]);
    } catch (err) {
      throw new ConfigError('config', [
        { path: `tls.${field}`, message: `cannot read: ${(err as Error).message}` },
      ]);
    }
  };
  return { key: read('key'), cert: read('cert') };
}
