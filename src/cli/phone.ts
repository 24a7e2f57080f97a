// `trapezoid phone`: a softphone. Registers with --server, places a call with --call, or answers
// calls with --answer; sends audio (--play), records it (--record), sends DTMF (--dtmf), over RTP
// or SRTP (--srtp); --json prints one JSON event per line (listed in src/phone/phone.ts).
//
// Exit codes: 0 the call (or registration) succeeded, 1 it failed (final status >= 300,
// timeout, no server there, a certificate not trusted: the error event says what to do), 2 usage
// error (an unknown flag, a bad port, `--play tone:abc`).
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  parseCall,
  parseListen,
  parsePorts,
  parseServer,
  PhoneSetupError,
  runPhone,
  type PhoneOptions,
} from '../phone/phone.ts';
import { PlayError, toneFrequency } from '../phone/audio-source.ts';
import type { TransportName } from '../ua/index.ts';
import type { Direction } from '../media/index.ts';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** A value checked by `check`, which throws PhoneSetupError or PlayError: a usage error (exit 2). */
function checked(check: (value: string) => unknown): (value: string) => string {
  return (value) => {
    try {
      check(value);
    } catch (err) {
      if (err instanceof PhoneSetupError || err instanceof PlayError) {
        throw new InvalidArgumentError(err.reason);
      }
      throw err;
    }
    return value;
  };
}

/**
 * What commander hands over: PhoneOptions under the flags' names. `--dtmf-delay` is in seconds
 * (PhoneOptions.dtmfDelayMs in ms), `--json` may be absent, and `--direction` has its default.
 */
type Flags = Omit<PhoneOptions, 'json' | 'dtmfDelayMs' | 'direction'> & {
  json?: boolean;
  dtmfDelay?: number;
  direction: Direction;
};

/** The transports --transport offers (wss is not offered yet: no test runs the phone over it). */
const PHONE_TRANSPORTS: readonly TransportName[] = ['udp', 'tcp', 'tls', 'ws'];

export function register(program: Command): void {
  program
    .command('phone')
    .description('softphone: register, call or answer; play, record, DTMF, SRTP')
    .option(
      '--server <host[:port]>',
      'registrar / outbound proxy; without it --call goes to the URI host',
      checked(parseServer),
    )
    .option('--user <name>', 'user name (AOR user and digest user)')
    .option('--password <secret>', 'digest password')
    .option('--domain <domain>', 'domain of our AOR (default: the server host)')
    .option('--call <uri>', 'call this URI (or user in our domain)', checked(parseCall))
    .option('--answer', 'answer incoming calls')
    .option(
      '--listen <udp:addr:port>',
      'address to listen on (default udp:127.0.0.1:5060 with --answer)',
      checked(parseListen),
    )
    .addOption(
      new Option('--transport <name>', 'transport').choices(PHONE_TRANSPORTS).default('udp'),
    )
    .option('--hangup-after <s>', 'hang up this many seconds after the answer', seconds)
    .option('--calls <n>', 'with --answer: exit after n calls have ended', count)
    .option('--timeout <s>', 'cancel an unanswered call after this many seconds', seconds)
    .option('--expires <s>', 'registration expiry to ask for', seconds)
    .option(
      '--play <wav|tone:hz>',
      'send this WAV file (any rate, resampled) or a tone',
      checked(toneFrequency),
    )
    .option('--record <wav>', 'record what is received (8 kHz mono 16-bit WAV)')
    .option('--dtmf <digits>', 'send these RFC 4733 digits (0-9 * # A-D) after the answer')
    .option(
      '--dtmf-delay <s>',
      'seconds after the answer before the first digit (default 1)',
      seconds,
    )
    .option(
      '--srtp [suite]',
      'SRTP with SDES keys: AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32 (default: offer both)',
    )
    .option(
      '--rtp-ports <low-high>',
      'RTP port range (even RTP port, RTCP on the next)',
      checked(parsePorts),
    )
    .option(
      '--tls-ca <file>',
      'with --transport tls: PEM of the CA or self-signed certificate to trust',
    )
    .option(
      '--tls-cert <file>',
      'with --transport tls and --answer: PEM certificate to listen with',
    )
    .option('--tls-key <file>', 'the private key (PEM) of --tls-cert')
    .addOption(
      new Option('--direction <dir>', 'media direction to ask for (RFC 3264)')
        .choices(['sendrecv', 'sendonly', 'recvonly', 'inactive'])
        .default('sendrecv'),
    )
    .option('--json', 'one JSON event per line')
    .action(async (flags: Flags, cmd: Command) => {
      if (flags.call && flags.answer) {
        cmd.error('trapezoid phone: use either --call or --answer, not both', { exitCode: 2 });
      }
      if (!flags.call && !flags.answer && !flags.server) {
        cmd.error('trapezoid phone: give --call URI, --answer, or --server to register', {
          exitCode: 2,
        });
      }
      if (flags.call && !flags.server && !/@|^sips?:/i.test(flags.call)) {
        cmd.error('trapezoid phone: without --server, --call needs a URI with a host', {
          exitCode: 2,
        });
      }
      if (flags.dtmf !== undefined && !/^[0-9*#A-Da-d]+$/.test(flags.dtmf)) {
        cmd.error(`trapezoid phone: --dtmf ${flags.dtmf}: digits are 0-9, *, #, A-D`, {
          exitCode: 2,
        });
      }
      const { dtmfDelay, ...rest } = flags;
      const opts: PhoneOptions = { ...rest, json: flags.json === true };
      if (dtmfDelay !== undefined) opts.dtmfDelayMs = dtmfDelay * 1000;
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        process.exitCode = await runPhone(
          opts,
          (line) => process.stdout.write(line + '\n'),
          abort.signal,
        );
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
