// Users of the call server: what the store keeps for a password (HA1 hashes, never the password).
import { randomBytes } from 'node:crypto';
import type { UserRecord, UserStore } from '../store/stores.ts';
import { computeHa1 } from './digest-authenticator.ts';

export function userRecord(
  user: string,
  domain: string,
  password: string,
  displayName?: string,
): UserRecord {
  return {
    user,
    domain,
    ha1Md5: computeHa1('MD5', user, domain, password),
    ha1Sha256: computeHa1('SHA-256', user, domain, password),
    ...(displayName !== undefined ? { displayName } : {}),
  };
}

/** A password for demo users: 12 characters from an unambiguous alphabet. */
export function randomPassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** Writes the users of a config into the store (HA1s computed from passwords when given). */
export async function provisionUsers(
  store: UserStore,
  domain: string,
  users: ReadonlyArray<{
    user: string;
    password?: string;
    ha1?: string;
    ha1Sha256?: string;
    displayName?: string;
  }>,
): Promise<void> {
  for (const u of users) {
    if (u.password !== undefined)
      await store.putUser(userRecord(u.user, domain, u.password, u.displayName));
    else {
      await store.putUser({
        user: u.user,
        domain,
        ha1Md5: u.ha1!,
        ...(u.ha1Sha256 !== undefined ? { ha1Sha256: u.ha1Sha256 } : {}),
        ...(u.displayName !== undefined ? { displayName: u.displayName } : {}),
      });
    }
  }
}
