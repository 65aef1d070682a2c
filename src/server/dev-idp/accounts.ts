import { createHash, timingSafeEqual } from 'node:crypto';
import type { DevUser } from '../../config/schema.js';

/** The claims every ID token from the dev IdP carries. */
export interface DevClaims {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
  preferred_username: string;
  groups: string[];
}

/** Maps a dev user to the claims the gate server reads from the ID token. */
export function claimsFor(user: DevUser): DevClaims {
  return {
    sub: user.username,
    email: user.email,
    email_verified: true,
    name: user.name ?? user.username,
    preferred_username: user.username,
    groups: [...(user.groups ?? [])],
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Returns the user when the username and password match, else undefined.
 * Compares digests in constant time so a wrong guess costs the same whatever
 * its length; every user is checked so timing does not reveal usernames.
 */
export function authenticate(users: readonly DevUser[], username: string, password: string): DevUser | undefined {
  const given = digest(password);
  let found: DevUser | undefined;
  for (const user of users) {
    const ok = timingSafeEqual(digest(user.password), given);
    if (ok && user.username === username) found = user;
  }
  return found;
}

/** Looks a user up by subject (the username). */
export function findUser(users: readonly DevUser[], sub: string): DevUser | undefined {
  return users.find((user) => user.username === sub);
}
