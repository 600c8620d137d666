import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { googleRefreshToken, googleServiceAccount } from '../../src/earth-engine.js';
import { clientCredentials, isSessionError, memorySharing, refreshTokenGrant } from '../../src/index.js';
import { jwtBearerGrant, jwtClientCredentials } from '../../src/jwt.js';
import { openEO } from '../../src/openeo.js';
import { sentinelHub } from '../../src/sentinel-hub.js';

/*
 * Every provider and preset that takes a token URL refuses one that fetch could not reach in Node — no scheme, a
 * relative path, another scheme — with `invalid_options` at construction, before any request (README, "Errors").
 */
const privateKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const unreachable = ['auth.example.com/oauth/token', '/oauth/token', 'oauth/token', 'ftp://auth.example.com/token', 'javascript:alert(1)'];

const makers: Record<string, (tokenUrl: string) => unknown> = {
  clientCredentials: (tokenUrl) => clientCredentials({ tokenUrl, clientId: 'app', clientSecret: 'secret' }),
  refreshTokenGrant: (tokenUrl) => refreshTokenGrant({ tokenUrl, clientId: 'app', refreshToken: 'rt' }),
  jwtClientCredentials: (tokenUrl) => jwtClientCredentials({ tokenUrl, clientId: 'app', privateKey, kid: 'k1' }),
  jwtBearerGrant: (tokenUrl) => jwtBearerGrant({ tokenUrl, issuer: 'app', privateKey, kid: 'k1' }),
  googleRefreshToken: (tokenUrl) => googleRefreshToken({ tokenUrl, clientId: 'app', refreshToken: 'rt' }),
  googleServiceAccount: (tokenUrl) =>
    googleServiceAccount({
      key: { type: 'service_account', client_email: 'ee@p.iam.gserviceaccount.com', private_key: privateKey, token_uri: 'https://oauth2.googleapis.com/token' },
      scopes: ['https://www.googleapis.com/auth/earthengine'],
      tokenUrl,
    }),
  sentinelHub: (tokenUrl) => sentinelHub({ clientId: 'app', clientSecret: 'secret', tokenUrl, sharing: memorySharing() }),
  openEO: (url) => openEO({ url, basic: { username: 'u', password: 'p' }, sharing: memorySharing() }),
};

describe('a token URL fetch cannot reach is invalid_options at construction', () => {
  for (const [name, make] of Object.entries(makers)) {
    it(name, () => {
      let fetched = 0;
      const original = globalThis.fetch;
      globalThis.fetch = (() => {
        fetched++;
        return Promise.reject(new Error('no request expected'));
      }) as typeof fetch;
      try {
        for (const tokenUrl of unreachable) {
          let thrown: unknown;
          try {
            make(tokenUrl);
          } catch (error) {
            thrown = error;
          }
          expect(isSessionError(thrown, 'invalid_options'), `${name}(${tokenUrl}): ${String(thrown)}`).toBe(true);
        }
      } finally {
        globalThis.fetch = original;
      }
      expect(fetched).toBe(0);
    });
  }
});
