// Fresh identifiers: branch (RFC 3261 §8.1.1.7, magic cookie z9hG4bK), tags (§19.3), Call-IDs (§8.1.1.4).

import { randomBytes } from 'node:crypto';

/** The magic cookie that marks an RFC 3261 branch. */
export const BRANCH_COOKIE = 'z9hG4bK';

// Random bytes are drawn in blocks to keep id generation cheap.
let pool = Buffer.alloc(0);
let poolPos = 0;

function randomHex(bytes: number): string {
  if (poolPos + bytes > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  const s = pool.toString('hex', poolPos, poolPos + bytes);
  poolPos += bytes;
  return s;
}

/** A new branch: 'z9hG4bK' + 64 random bits. */
export function newBranch(): string {
  return BRANCH_COOKIE + randomHex(8);
}

/** A new tag: 64 random bits. */
export function newTag(): string {
  return randomHex(8);
}

/** A new Call-ID: 96 random bits, '@host' when a host is given. */
export function newCallId(host?: string): string {
  const id = randomHex(12);
  return host ? `${id}@${host}` : id;
}
