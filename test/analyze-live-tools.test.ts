// The two capture tools `--live` can run, each on lo: tcpdump and dumpcap write pcap to a pipe,
// every datagram sent while they capture comes out whole, in order, with the BPF filter applied,
// and each reports the kernel's drops when stopped. Needs root (CI runs as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { LiveCapture, PacketDecoder, readCaptureStream } from '../src/capture/index.ts';
import type { Packet } from '../src/capture/index.ts';
import { inCI, needTool } from './support/peers.ts';
import { freePort } from './support/ports.ts';

for (const tool of ['tcpdump', 'dumpcap'] as const) {
  test(`${tool} on lo: datagrams through the pipe whole, filtered, with the drop count`, async (t) => {
    if (!needTool(t, tool, tool === 'dumpcap' ? 'tshark' : tool)) return;
    if (process.getuid?.() !== 0) {
      if (inCI) assert.fail('capturing on lo needs root (CI runs as root)');
      t.skip('capturing on lo needs root');
      return;
    }
    const [wanted, other] = [await freePort(), await freePort()];
    const capture = new LiveCapture({ iface: 'lo', bpf: `udp and dst port ${wanted}`, tool });
    t.after(() => capture.stop());
    const got: Packet[] = [];
    const decoder = new PacketDecoder({
      onUdp: (p) => got.push({ ...p, payload: Buffer.from(p.payload) }),
      onTcpData: () => undefined,
    });
    const read = readCaptureStream(capture.stream, (buf, start, end, index, ts, linkType) =>
      decoder.decodeRecord(buf, start, end, index, ts, linkType),
    );
    await capture.ready;
    const socket = createSocket('udp4');
    t.after(() => socket.close());
    for (let i = 0; i < 20; i++) {
      for (const port of [wanted, other]) {
        const payload = Buffer.from(`datagram ${i} to ${port}`);
        await new Promise<void>((r) => socket.send(payload, port, '127.0.0.1', () => r()));
      }
    }
    // -U / dumpcap's pipe mode write each packet as it comes: all 20 arrive before the stop.
    const start = Date.now();
    while (got.length < 20 && Date.now() - start < 10_000)
      await new Promise((r) => setTimeout(r, 50));
    await capture.stop();
    const result = await read;
    assert.equal(result.error, undefined);
    assert.deepEqual(
      got.map((p) => p.payload.toString()),
      Array.from({ length: 20 }, (_, i) => `datagram ${i} to ${wanted}`),
    );
    assert.ok(got.every((p) => p.dst === '127.0.0.1' && p.dstPort === wanted));
    assert.equal(capture.dropped, 0, capture.stderr);
  });
}
