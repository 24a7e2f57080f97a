// `trapezoid phone` run inside the test process (runPhone, no start-up time): its JSON events as
// they come, a wait for one of them, and a stop that gives the exit code.
import { runPhone, type PhoneOptions } from '../../src/phone/phone.ts';
import { events } from '../ua-sipp-peer.ts';

export type PhoneEvent = Record<string, unknown> & {
  event: string;
  received?: Record<string, number>;
  dropped?: Record<string, number>;
  sent?: Record<string, number>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class InProcessPhone {
  readonly lines: string[] = [];
  readonly code: Promise<number>;
  private readonly abort = new AbortController();

  /** Give `rtpPorts` so each test file's phones keep to a range of their own. */
  constructor(opts: Partial<PhoneOptions>) {
    this.code = runPhone(
      { transport: 'udp', json: true, ...opts },
      (line) => this.lines.push(line),
      this.abort.signal,
    );
  }

  get stdout(): string {
    return this.lines.join('\n');
  }

  get events(): PhoneEvent[] {
    return events(this.stdout) as PhoneEvent[];
  }

  async waitFor(event: string, ms = 10000): Promise<PhoneEvent> {
    const start = Date.now();
    for (;;) {
      const found = this.events.find((e) => e.event === event);
      if (found) return found;
      if (Date.now() - start > ms) throw new Error(`no "${event}" within ${ms} ms: ${this.stdout}`);
      await sleep(20);
    }
  }

  /** Stops the phone (after its call ended) and gives its exit code. */
  async stop(): Promise<number> {
    this.abort.abort();
    return this.code;
  }
}
