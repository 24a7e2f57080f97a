// Media primitives: SDP and offer/answer, RTP/RTCP packets and statistics, G.711, RFC 4733
// events, WAV, MOS, jitter buffer. Pure packet, codec and statistics code: no sockets, no timers.

export * from './rtp-header.ts';
export * from './rtp-packet.ts';
export * from './sequence.ts';
export * from './rtp-stream-stats.ts';
export * from './rtcp.ts';
export * from './rtcp-session.ts';
export * from './jitter-buffer.ts';
export * from './g711.ts';
export * from './resample.ts';
export * from './wav.ts';
export * from './mos.ts';
export * from './telephone-event.ts';
export * from './sdp.ts';
export * from './offer-answer.ts';
export * from './srtp-key-derivation.ts';
export * from './srtp-replay-window.ts';
export * from './srtp-context.ts';
export * from './sdes-crypto.ts';
export * from './telephone-event-sender.ts';
export * from './tone.ts';
