import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oauth from 'oauth4webapi';
import { discover, requestOptions, toSessionError, withoutSecrets, withTimeout, type Endpoint } from '../oidc/protocol.js';
import { SessionError } from '../core/errors.js';
import type { TokenSet } from '../core/token.js';
import { CliError } from './cli-error.js';
import { EXIT } from './exit-codes.js';

export interface LoopbackSignInOptions {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
  /** Longest wait for the person to finish in the browser (ms). */
  readonly timeout: number;
  /** Shows the authorization URL (stderr) and tries to open a browser on it. */
  readonly open: (authorizationUrl: string) => void;
  readonly signal?: AbortSignal | undefined;
  readonly fetch?: typeof globalThis.fetch | undefined;
}

const CALLBACK_PATH = '/callback';

/**
 * Signs a person in with the authorization code flow for native apps (RFC 8252): a redirect URI on 127.0.0.1 with a
 * port the OS picks (§7.3), PKCE S256 (§8.1), `state` checked. The listener is one-shot: it takes the first callback
 * that carries our `state` and closes; a callback with another `state` (another program on this machine guessing)
 * is answered 400 and ends nothing. The wait is bounded by `timeout`.
 */
export async function loopbackSignIn(options: LoopbackSignInOptions): Promise<TokenSet> {
  const endpoint: Endpoint = { issuer: options.issuer, fetch: options.fetch ?? globalThis.fetch, signal: options.signal };
  const as = await discover(endpoint);
  const client: oauth.Client = { client_id: options.clientId };
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const listener = await listenOnLoopback();
  const redirectUri = `http://127.0.0.1:${listener.port}${CALLBACK_PATH}`;
  try {
    const authorizationUrl = new URL(as.authorization_endpoint!);
    authorizationUrl.search = new URLSearchParams({
      client_id: options.clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: options.scope,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    }).toString();
    options.open(authorizationUrl.href);
    const callback = await listener.next(as, client, state, options.timeout, options.signal);
    let code: string | undefined;
    try {
      code = callback.params.get('code') ?? undefined;
      const set = await withTimeout('The token endpoint', 10_000, options.signal, async (signal) => {
        const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callback.params, redirectUri, verifier, requestOptions({ ...endpoint, signal }));
        const body = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: oauth.expectNoNonce, requireIdToken: false });
        return tokenSetOf(body);
      });
      callback.answer(200, 'Signed in', 'You are signed in. You can close this tab and go back to the terminal.');
      return set;
    } catch (error) {
      callback.answer(400, 'Sign-in failed', 'The sign-in could not be completed: see the terminal.');
      throw withoutSecrets(toSessionError(error, 'The code exchange', options.signal), [code, verifier]);
    }
  } finally {
    listener.close();
  }
}

function tokenSetOf(body: oauth.TokenEndpointResponse): TokenSet {
  const sentAt = Date.now();
  if (body.token_type.toLowerCase() !== 'bearer') throw new SessionError('invalid_response', `The provider issued a ${body.token_type.slice(0, 20)} token, not a Bearer token`);
  // eslint-disable-next-line no-control-regex -- a header value must not carry them
  if (/[\s\u0000-\u001f]/.test(body.access_token)) throw new SessionError('invalid_response', 'The access token holds whitespace or control characters');
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300;
  const token = { accessToken: body.access_token, tokenType: 'Bearer', expiresAt: sentAt + expiresIn * 1000, issuedAt: sentAt, ...(body.scope !== undefined && { scope: body.scope }) };
  return body.refresh_token === undefined ? { token } : { token, refreshToken: body.refresh_token };
}

interface Callback {
  readonly params: URLSearchParams;
  answer(status: number, title: string, text: string): void;
}

interface LoopbackListener {
  readonly port: number;
  next(as: oauth.AuthorizationServer, client: oauth.Client, state: string, timeout: number, signal: AbortSignal | undefined): Promise<Callback>;
  close(): void;
}

async function listenOnLoopback(): Promise<LoopbackListener> {
  let onRequest: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (onRequest === undefined) return void page(res, 410, 'Gone', 'This sign-in is over.');
    onRequest(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // 127.0.0.1, not localhost (RFC 8252 §8.3): no name lookup, no other interface.
    server.listen(0, '127.0.0.1', resolve);
  });
  const close = (): void => {
    onRequest = undefined;
    server.close();
    server.closeAllConnections();
  };
  return {
    port: (server.address() as AddressInfo).port,
    close,
    next: (as, client, state, timeout, signal) =>
      new Promise<Callback>((resolve, reject) => {
        const timer = setTimeout(() => finish(new CliError(EXIT.expired, `the sign-in in the browser was not completed within ${Math.round(timeout / 1000)} s`)), timeout);
        const onAbort = (): void => finish(new CliError(EXIT.interrupted, 'interrupted'));
        signal?.addEventListener('abort', onAbort, { once: true });
        const finish = (outcome: Callback | Error): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (outcome instanceof Error) {
            close();
            reject(outcome);
          } else {
            // One-shot: nothing else is taken once our callback came.
            onRequest = (_req, res) => page(res, 410, 'Gone', 'This sign-in is over.');
            resolve(outcome);
          }
        };
        if (signal?.aborted) return onAbort();
        onRequest = (req, res) => {
          const url = new URL(req.url ?? '/', 'http://127.0.0.1');
          if (req.method !== 'GET' || url.pathname !== CALLBACK_PATH) return void page(res, 404, 'Not found', 'Nothing here.');
          if (url.searchParams.get('state') !== state) {
            // Not our sign-in (a stale tab, another program): refused, and we keep waiting for ours.
            return void page(res, 400, 'Not this sign-in', 'This link does not belong to the sign-in the terminal is waiting for.');
          }
          const answer = (status: number, title: string, text: string): void => {
            page(res, status, title, text);
            server.close();
          };
          try {
            const params = oauth.validateAuthResponse(as, client, url.searchParams, state);
            finish({ params, answer });
          } catch (error) {
            const failure = toSessionError(error, 'The authorization response');
            answer(400, 'Sign-in failed', failure.code === 'access_denied' ? 'The sign-in was refused.' : 'The sign-in failed: see the terminal.');
            finish(failure);
          }
        };
      }),
  };
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  res
    .writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', connection: 'close' })
    .end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`);
}
