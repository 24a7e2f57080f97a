// A headless baresip 1.0 config folder for the interop tests: SIP on one port of 127.0.0.1 (it
// also takes the next port for TLS), G.711 only, audio from a WAV file (aufile) and what it
// hears written to `heard.wav` in the folder, one account line.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BaresipConfig {
  /** The folder to create the config folder in. */
  parent: string;
  name: string;
  sipPort: number;
  /** 'LOW-HIGH': RTP ports baresip may use. */
  rtpPorts: string;
  /** The WAV it plays; baresip hangs up when the file ends. */
  source: string;
  /** One accounts line, e.g. '<sip:2001@example.test>;auth_pass=...;regint=120'. */
  account: string;
}

/** Writes the folder and returns its path (for `baresip -f`). */
export function baresipConfig(c: BaresipConfig): string {
  const d = join(c.parent, c.name);
  mkdirSync(d);
  writeFileSync(
    join(d, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${c.sipPort}`,
      'net_interface 127.0.0.1',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module account.so',
      'module menu.so',
      `audio_source aufile,${c.source}`,
      `audio_player aufile,${join(d, 'heard.wav')}`,
      `rtp_ports ${c.rtpPorts}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(d, 'accounts'), c.account + '\n');
  return d;
}
