import { describe, expect, it } from 'vitest';
import { md5PasswordResponse } from '../../src/gateway/postgres/md5.js';
import { scramClient } from '../../src/gateway/postgres/scram.js';

describe('SCRAM-SHA-256 client', () => {
  // RFC 7677 section 3 test vector.
  const nonce = 'rOprNGfwEbeRWgbNEkqO';
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';

  it('produces the RFC 7677 client proof and accepts the matching server signature', async () => {
    const c = scramClient('pencil', nonce, 'user');
    expect(c.clientFirst.toString()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = await c.respond(serverFirst);
    expect(final.toString()).toBe(
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    expect(() => c.verify('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
  });

  it('refuses a server that cannot prove it knows the password', async () => {
    const c = scramClient('pencil', nonce, 'user');
    await c.respond(serverFirst);
    expect(() => c.verify('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')).toThrow(/signature/);
    expect(() => c.verify('e=invalid-proof')).toThrow(/invalid-proof/);
  });

  it('refuses a server nonce that does not extend ours', async () => {
    const c = scramClient('pencil', nonce);
    await expect(c.respond('r=somethingelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).rejects.toThrow(/nonce/);
  });
});

describe('md5 password response', () => {
  it('matches PostgreSQL: md5(md5(password + user) + salt)', () => {
    // Computed independently with Python's hashlib.
    expect(md5PasswordResponse('alice', 'secret', Buffer.from([1, 2, 3, 4]))).toBe('md598a0412b9c31436fc53776e863350083');
  });
});
