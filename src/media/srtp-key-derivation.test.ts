// RFC 3711 Appendix B test vectors: B.2 (AES-CM keystream) and B.3 (key derivation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import {
  AesCounterMode,
  SRTP_LABEL,
  deriveSessionKey,
  deriveSrtpSessionKeys,
  srtpCounterBlock,
} from './srtp-key-derivation.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// B.2: keystream segment of 1044512 octets (65282 blocks) from the offset F0F1...FCFD0000.
const B2_SESSION_KEY = hex('2B7E151628AED2A6ABF7158809CF4F3C');
const B2_SESSION_SALT = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD');
const B2_SEGMENT_LENGTH = 1044512;
const B2_FIRST_BLOCKS = hex(`
  E03EAD0935C95E80E166B16DD92B4EB4
  D23513162B02D0F72A43A2FE4A5F97AB
  41E95B3BB0A2E8DD477901E4FCA894C0`);
const B2_LAST_BLOCKS = hex(`
  EC8CDF7398607CB0F2D21675EA9EA1E4
  362B7C3C6773516318A077D7FC5073AE
  6A2CC3787889374FBEB4C81B17BA6C44`);

// B.3: master key and salt, and what the three SRTP labels derive from them.
const B3_MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const B3_MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');
const B3_CIPHER_KEY = hex('C61E7A93744F39EE10734AFE3FF7A087');
const B3_CIPHER_SALT = hex('30CBBC08863D8C85D49DB34A9AE1');
const B3_AUTH_KEY_94 = hex(`
  CEBE321F6FF7716B6FD4AB49AF256A15
  6D38BAA48F0A0ACF3C34E2359E6CDBCE
  E049646C43D9327AD175578EF7227098
  6371C10C9A369AC2F94A8C5FBCDDDC25
  6D6E919A48B610EF17C2041E47403576
  6B68642C59BBFC2F34DB60DBDFB2`);

test('B.2: the counter block for SSRC 0 and index 0 is the salt shifted left 16 bits', () => {
  assert.deepEqual(
    srtpCounterBlock(B2_SESSION_SALT, 0, 0),
    hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'),
  );
});

test('B.2: AES-CM keystream, first and last three blocks of the 1044512-octet segment', () => {
  const iv = srtpCounterBlock(B2_SESSION_SALT, 0, 0);
  const stream = new AesCounterMode(B2_SESSION_KEY).keystream(iv, B2_SEGMENT_LENGTH);
  assert.equal(stream.length, B2_SEGMENT_LENGTH);
  assert.deepEqual(stream.subarray(0, 48), B2_FIRST_BLOCKS);
  assert.deepEqual(stream.subarray(B2_SEGMENT_LENGTH - 48), B2_LAST_BLOCKS);
});

test('B.2: xor() of zeros is the keystream and xor() twice gives the input back', () => {
  const cipher = new AesCounterMode(B2_SESSION_KEY);
  const iv = srtpCounterBlock(B2_SESSION_SALT, 0, 0);
  const zeros = Buffer.alloc(48);
  const once = cipher.xor(iv, zeros, Buffer.alloc(48));
  assert.deepEqual(once, B2_FIRST_BLOCKS);
  assert.deepEqual(cipher.xor(iv, once, Buffer.alloc(48)), zeros);
});

test('B.3: cipher key, cipher salt and the 94-octet auth key block', () => {
  assert.deepEqual(
    deriveSessionKey(B3_MASTER_KEY, B3_MASTER_SALT, SRTP_LABEL.rtpEncryption, 16),
    B3_CIPHER_KEY,
  );
  assert.deepEqual(
    deriveSessionKey(B3_MASTER_KEY, B3_MASTER_SALT, SRTP_LABEL.rtpSalt, 14),
    B3_CIPHER_SALT,
  );
  assert.deepEqual(
    deriveSessionKey(B3_MASTER_KEY, B3_MASTER_SALT, SRTP_LABEL.rtpAuthentication, 94),
    B3_AUTH_KEY_94,
  );
});

test('B.3: deriveSrtpSessionKeys gives the RFC keys and a 160-bit HMAC key', () => {
  const keys = deriveSrtpSessionKeys(B3_MASTER_KEY, B3_MASTER_SALT);
  assert.deepEqual(keys.rtpEncryptionKey, B3_CIPHER_KEY);
  assert.deepEqual(keys.rtpSalt, B3_CIPHER_SALT);
  assert.deepEqual(keys.rtpAuthenticationKey, B3_AUTH_KEY_94.subarray(0, 20));
  // SRTCP labels 3..5 give different keys from the SRTP ones.
  assert.notDeepEqual(keys.rtcpEncryptionKey, keys.rtpEncryptionKey);
  assert.notDeepEqual(keys.rtcpSalt, keys.rtpSalt);
  assert.notDeepEqual(keys.rtcpAuthenticationKey, keys.rtpAuthenticationKey);
  assert.equal(keys.rtcpSalt.length, 14);
});

test('counter block: SSRC at bits 64..95 and index at bits 16..63, XORed with the salt', () => {
  const salt = randomBytes(14);
  const ssrc = 0xdeadbeef;
  const index = 0xa1b2_c3d4_e5f6; // 48 bits: ROC 0xa1b2c3d4, SEQ 0xe5f6
  const expected =
    (BigInt('0x' + salt.toString('hex')) << 16n) ^ (BigInt(ssrc) << 64n) ^ (BigInt(index) << 16n);
  const got = BigInt('0x' + srtpCounterBlock(salt, ssrc, index).toString('hex'));
  assert.equal(got, expected);
});

test('AesCounterMode agrees with node aes-128-ctr, including a carry out of the low 32 bits', () => {
  const key = randomBytes(16);
  const cipher = new AesCounterMode(key);
  for (const ivHex of ['000102030405060708090a0b0c0d0000', '00000000000000000000fffffffffffe']) {
    const iv = hex(ivHex);
    const data = randomBytes(100);
    const ctr = createCipheriv('aes-128-ctr', key, iv).update(data);
    assert.deepEqual(cipher.xor(iv, data, Buffer.alloc(100)), ctr, ivHex);
  }
});

test('wrong key or salt lengths are refused', () => {
  assert.throws(() => new AesCounterMode(Buffer.alloc(15)), /16 octets/);
  assert.throws(() => deriveSessionKey(Buffer.alloc(16), Buffer.alloc(12), 0, 16), /14 octets/);
});
