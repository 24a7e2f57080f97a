// Where the call log's messages go besides /api/calls: the per-call capture ring (as bytes with
// their endpoints) and the console's live feed. One object the call log calls (call-log.ts
// CallLogTap); each part is optional.
import type { CallCapture } from './call-capture.ts';
import type { KeptMessage } from './call-log.ts';
import type { LoggedCall } from './console-model.ts';
import type { LiveFeed } from './live-feed.ts';

export class CallTap {
  constructor(
    private readonly capture: CallCapture | undefined,
    private readonly feed: LiveFeed | undefined,
  ) {}

  /** The call log kept the `index`th message of a call (with its endpoints). */
  message(call: LoggedCall, logged: KeptMessage, index: number): void {
    // The message the log keeps (not a copy): the ring and the log hold one object.
    this.capture?.keep(call.callId, logged);
    this.feed?.message(call, logged, index);
  }

  /** A call began, was answered or ended. */
  changed(call: LoggedCall): void {
    this.feed?.changed(call);
  }
}
