import { expect, it } from 'vitest';
import { createSession, memorySharing, staticToken } from '../../src/index.js';

// README: bad input → a typed `SessionError` with a code, never silent corruption. `getToken({ minValidity })` took
// NaN, a negative number or a string without a word (NaN and '5' compared as "always valid enough").
it.each([Number.NaN, -1, '5', null])('getToken({ minValidity: %j }) → invalid_options', async (minValidity) => {
  const session = createSession({ provider: staticToken({ accessToken: 'at' }), sharing: memorySharing() });
  try {
    await expect(session.getToken({ minValidity: minValidity as number })).rejects.toMatchObject({ code: 'invalid_options' });
    await expect(session.getToken({ minValidity: 0 })).resolves.toMatchObject({ accessToken: 'at' });
  } finally {
    await session.close();
  }
});
