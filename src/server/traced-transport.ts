// The server's transport layer with a tap on the wire: every SIP message it receives (before
// parsing, so malformed ones too) and every one it sends, as bytes with both endpoints. What
// `hep:` sends to a collector (hep-sender.ts), as Kamailio's siptrace does. Without a tap set it
// is the plain TransportLayer.
import { TransportLayer, type Endpoint } from '../transport/index.ts';
import type { SendOptions, SendResult } from '../transport/index.ts';

/**
 * Sees one message on the wire (data is the transport's buffer: copy it if kept); `ts` in
 * milliseconds since the epoch, taken when it was received or handed to the socket.
 */
export type WireTap = (data: Buffer, src: Endpoint, dst: Endpoint, ts: number) => void;

export class TracedTransportLayer extends TransportLayer {
  tap?: WireTap;

  override receive(
    data: Buffer,
    source: Endpoint,
    local: Endpoint,
    connectionId?: string,
  ): boolean {
    this.tap?.(data, source, local, Date.now());
    return super.receive(data, source, local, connectionId);
  }

  override sendBuffer(
    buffer: Buffer,
    destination: Endpoint,
    opts?: SendOptions,
  ): Promise<SendResult> {
    const sent = super.sendBuffer(buffer, destination, opts);
    const tap = this.tap;
    if (tap) {
      const ts = Date.now();
      sent.then(
        (result) => tap(buffer, this.localFor(result, opts), result.endpoint, ts),
        () => {},
      );
    }
    return sent;
  }

  /** The address the message left from: its connection's, the UDP socket asked for, or the listener. */
  private localFor(result: SendResult, opts: SendOptions | undefined): Endpoint {
    const id = result.connectionId ?? opts?.connectionId;
    const connection = id === undefined ? undefined : this.connection(id);
    if (connection) return connection.local;
    if (opts?.local) return opts.local;
    const dst = result.endpoint;
    const v6 = dst.address.includes(':');
    const listeners = this.listeners.filter((l) => l.protocol === dst.protocol);
    return (
      listeners.find((l) => l.address.includes(':') === v6) ??
      listeners[0] ?? { protocol: dst.protocol, address: v6 ? '::' : '0.0.0.0', port: 0 }
    );
  }
}
