// The server's transport layer with a tap on the wire: every SIP message it receives (before
// parsing, so malformed ones too) and every one it sends, as bytes with both endpoints. What
// `hep:` sends to a collector (hep-sender.ts), as Kamailio's siptrace does. Without a tap set it
// is the plain TransportLayer.
import { TransportLayer, type Endpoint } from '../transport/index.ts';
import type { SendDone, SendOptions } from '../transport/index.ts';

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

  override sendBufferTo(
    buffer: Buffer,
    destination: Endpoint,
    opts: SendOptions,
    done: SendDone,
  ): void {
    const tap = this.tap;
    super.sendBufferTo(
      buffer,
      destination,
      opts,
      tap ? new Tapped(this, tap, buffer, opts, done) : done,
    );
  }

  /** @internal The address the message left from: its connection's, the UDP socket asked for, or the listener. */
  localFor(dst: Endpoint, connectionId: string | undefined, opts: SendOptions): Endpoint {
    const id = connectionId ?? opts.connectionId;
    const connection = id === undefined ? undefined : this.connection(id);
    if (connection) return connection.local;
    if (opts.local) return opts.local;
    const v6 = dst.address.includes(':');
    const listeners = this.listeners.filter((l) => l.protocol === dst.protocol);
    return (
      listeners.find((l) => l.address.includes(':') === v6) ??
      listeners[0] ?? { protocol: dst.protocol, address: v6 ? '::' : '0.0.0.0', port: 0 }
    );
  }
}

/** A send seen by the tap once it has left (with the time it was handed to the socket). */
class Tapped implements SendDone {
  private readonly ts = Date.now();

  constructor(
    private readonly layer: TracedTransportLayer,
    private readonly tap: WireTap,
    private readonly buffer: Buffer,
    private readonly opts: SendOptions,
    private readonly done: SendDone,
  ) {}

  sendSucceeded(endpoint: Endpoint, connectionId: string | undefined): void {
    this.tap(
      this.buffer,
      this.layer.localFor(endpoint, connectionId, this.opts),
      endpoint,
      this.ts,
    );
    this.done.sendSucceeded(endpoint, connectionId);
  }

  sendFailed(error: Error): void {
    this.done.sendFailed(error);
  }
}
