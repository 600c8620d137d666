import { afterEach, expect, it } from 'vitest';
import { createSession, customProvider, isSessionError, memorySharing, staticToken, type Session, type Token } from '../../src/index.js';
import { createDPoPProof } from '../../src/dpop.js';
import { fetchWithToken } from '../../src/http/fetch-with-token.js';

/**
 * Review of issue 25 (downgrade to Bearer): "a `Bearer` answer to a DPoP request is refused unless the app allows a
 * downgrade explicitly" held for the token endpoint's providers (`requestToken`), but a provider that gets its token
 * elsewhere (`customProvider`, `staticToken`) ignored the session's DPoP, so `createSession({ dpop: true })` handed
 * out a Bearer token, sent by createClient with no proof: the app asked for bound tokens and silently got an unbound
 * one. A `dpop` token (token types are case-insensitive) was sent as `Authorization: dpop …` with no proof. And
 * `createDPoPProof(key, null)` threw a bare TypeError.
 */
const open: Session[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((session) => session.close()));
});

const codeOf = (error: unknown): string => (isSessionError(error) ? error.code : `untyped: ${String(error)}`);
const token = (tokenType: string): Token => ({ accessToken: `t-${tokenType}`, tokenType, expiresAt: Date.now() + 60_000, issuedAt: Date.now() });

it('a session with dpop never hands out a Bearer token from any provider unless allowBearer; a DPoP one passes', async () => {
  const outcome = async (session: Session): Promise<string> => {
    open.push(session);
    return session.getToken().then((got) => got.tokenType, codeOf);
  };
  const custom = (tokenType: string, key: string) => customProvider({ key, fetchToken: () => Promise.resolve(token(tokenType)) });
  expect({
    customBearer: await outcome(createSession({ provider: custom('Bearer', 'a'), sharing: memorySharing(), dpop: true })),
    staticBearer: await outcome(createSession({ provider: staticToken({ accessToken: 'abc' }), sharing: memorySharing(), dpop: true })),
    customOther: await outcome(createSession({ provider: custom('MAC', 'b'), sharing: memorySharing(), dpop: true })),
    customBearerAllowed: await outcome(createSession({ provider: custom('Bearer', 'c'), sharing: memorySharing(), dpop: { allowBearer: true } })),
    customDPoP: await outcome(createSession({ provider: custom('DPoP', 'd'), sharing: memorySharing(), dpop: true })),
    customLowerCase: await outcome(createSession({ provider: custom('dpop', 'e'), sharing: memorySharing(), dpop: true })),
  }).toEqual({
    customBearer: 'invalid_response',
    staticBearer: 'invalid_response',
    customOther: 'invalid_response',
    customBearerAllowed: 'Bearer',
    customDPoP: 'DPoP',
    customLowerCase: 'DPoP',
  });
});

it('a dpop token (any case) of a session without dpop is never sent without a proof: invalid_options, nothing sent', async () => {
  const session = createSession({ provider: staticToken({ accessToken: 'abc', tokenType: 'dpop' }), sharing: memorySharing() });
  open.push(session);
  const sent: Array<string | null> = [];
  const fetch = (request: Request): Promise<Response> => {
    sent.push(request.headers.get('authorization'));
    return Promise.resolve(new Response('ok'));
  };
  expect(await fetchWithToken(session, new Request('https://api.example/x'), { fetch }).then((response) => response.status, codeOf)).toBe('invalid_options');
  expect(sent).toEqual([]);
});

it('createDPoPProof with no request: invalid_options, not a TypeError', async () => {
  const { generateDPoPKey } = await import('../../src/dpop.js');
  const key = await generateDPoPKey();
  for (const request of [null, undefined, 5, 'GET https://x/']) {
    expect(await createDPoPProof(key, request as never).then(() => 'signed', codeOf)).toBe('invalid_options');
  }
});
