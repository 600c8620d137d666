import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { clientCredentials, createSession, memorySharing, refreshTokenGrant, SessionError } from '../../src/index.js';
import { earthEngine } from '../../src/earth-engine.js';
import { openEO } from '../../src/openeo.js';
import { sentinelHub } from '../../src/sentinel-hub.js';
import { staticToken } from '../../src/index.js';

// Review: a URL option with credentials in it (`https://user:password@host/…`, as in curl or a proxy setting). fetch
// refuses such URLs ("Request cannot be constructed from a URL that includes credentials: <the URL>"), so they were
// accepted, retried as an outage (4 attempts, `endpoint_unavailable`), and the error's cause carried the password
// (observed: `inspect(error)` contains it). README: bad input → `invalid_options` at once; docs/security.md: secrets
// are never put in errors. Expected: `invalid_options` at construction, its message without the password.

const PASSWORD = 'pw-in-the-url-9f3';
const withUserinfo = `http://someone:${PASSWORD}@127.0.0.1:9`;

function refused(make: () => unknown): SessionError {
  let thrown: unknown;
  try {
    make();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(SessionError);
  expect((thrown as SessionError).code).toBe('invalid_options');
  expect(inspect(thrown, { depth: 8 })).not.toContain(PASSWORD);
  return thrown as SessionError;
}

describe('URL options with user:password@ are invalid_options, and the password is in no error', () => {
  it('tokenUrl (client credentials, refresh token grant): no attempt is made', async () => {
    refused(() => clientCredentials({ tokenUrl: `${withUserinfo}/token`, clientId: 'app', clientSecret: 'secret' }));
    refused(() => refreshTokenGrant({ tokenUrl: `${withUserinfo}/token`, clientId: 'app', refreshToken: 'rt' }));
  });

  it('the presets\' API roots', () => {
    const provider = staticToken({ accessToken: 'at' });
    refused(() => openEO({ url: `${withUserinfo}/openeo/1.2`, providerId: 'x', provider, sharing: memorySharing() }));
    refused(() => sentinelHub({ clientId: 'a', clientSecret: 'b', baseUrl: withUserinfo, tokenUrl: 'http://127.0.0.1:9/token', sharing: memorySharing() }));
    refused(() => earthEngine({ provider, project: 'my-project', baseUrl: `${withUserinfo}/v1`, sharing: memorySharing() }));
  });

  it('control: a URL without credentials still works', async () => {
    const session = createSession({ provider: clientCredentials({ tokenUrl: 'http://127.0.0.1:9/token', clientId: 'app', clientSecret: 'secret', attempts: 1 }), sharing: memorySharing() });
    await expect(session.getToken()).rejects.toMatchObject({ code: 'endpoint_unavailable' });
    await session.close();
  });
});
