import * as oauth from 'oauth4webapi';
import { abortError, isSessionError, SessionError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { discover, type Endpoint, requestOptions, statusFailure, toSessionError, withoutSecrets, withTimeout } from '../oidc/protocol.js';
import type { DevicePrompt } from './options.js';

/** RFC 8628 §3.5: the interval when the provider names none, and what each `slow_down` adds to it. */
const DEFAULT_INTERVAL = 5_000;
const SLOW_DOWN_STEP = 5_000;
/** A provider asking for more than this between polls is polled at this (a minute; the code's life bounds the whole). */
const MAX_INTERVAL = 60_000;
/** The longest a device code is waited for, whatever `expires_in` says: 30 minutes. */
const MAX_EXPIRES_IN = 1_800_000;

export interface DeviceFlowSettings {
  readonly issuer: string;
  readonly client: oauth.Client;
  readonly scope: string;
  readonly timeout: number;
  readonly fetch: typeof globalThis.fetch;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly onPrompt: (prompt: DevicePrompt) => void;
  /** Sends a PKCE (S256) challenge with the authorization and the verifier with each poll. */
  readonly pkce?: boolean | undefined;
}

export interface DeviceFlowResult {
  readonly as: oauth.AuthorizationServer;
  readonly response: oauth.TokenEndpointResponse;
  /** When the request that got the token was sent (epoch ms): the token's lifetime counts from it. */
  readonly sentAt: number;
}

/**
 * The device authorization grant (RFC 8628) on oauth4webapi: asks for a device code, shows the person the user code
 * (and `verification_uri_complete` when sent), then polls the token endpoint at the provider's `interval` — 5 s
 * more after each `slow_down` — until the person approves (`access_denied` when they refuse), the code expires
 * (`expired_token`, also when the provider still says `authorization_pending` at `expires_in`), or `signal` aborts.
 * Every wait is bounded by the code's lifetime; the device code itself never leaves this function.
 */
export async function runDeviceFlow(settings: DeviceFlowSettings): Promise<DeviceFlowResult> {
  const { issuer, client, scope, timeout, clock, signal } = settings;
  const endpoint = (bounded: AbortSignal): Endpoint => ({ issuer, fetch: settings.fetch, signal: bounded, timeout });
  const label = 'The device authorization';
  // The verifier stays in this function, like the device code.
  const verifier = settings.pkce === true ? oauth.generateRandomCodeVerifier() : undefined;
  const challenge = verifier === undefined ? {} : { code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' };
  const { as, authorization, startedAt } = await withTimeout(label, timeout, signal, async (bounded) => {
    const as = await discover(endpoint(bounded));
    if (as.device_authorization_endpoint === undefined) {
      throw new SessionError('unsupported_provider', 'The provider has no device_authorization_endpoint (it does not offer the device flow)');
    }
    const startedAt = clock.now();
    const response = await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope, ...challenge }, requestOptions(endpoint(bounded)));
    const failure = statusFailure(response, label, clock.now());
    if (failure !== undefined) throw failure;
    const authorization = await oauth.processDeviceAuthorizationResponse(as, client, response);
    return { as, authorization, startedAt };
  });
  const deviceCode = authorization.device_code;
  const expiresAt = startedAt + Math.min(authorization.expires_in * 1000, MAX_EXPIRES_IN);
  const complete = authorization.verification_uri_complete;
  settings.onPrompt({
    verificationUri: authorization.verification_uri,
    ...(complete === undefined ? {} : { verificationUriComplete: complete }),
    userCode: authorization.user_code,
    expiresAt,
  });
  let interval = Math.min(MAX_INTERVAL, Math.max(1, authorization.interval ?? DEFAULT_INTERVAL / 1000) * 1000);
  for (;;) {
    const wait = Math.min(interval, expiresAt - clock.now());
    if (wait <= 0) throw expired();
    await sleep(wait, signal);
    if (clock.now() >= expiresAt) throw expired();
    const pollLabel = 'The token endpoint';
    try {
      return await withTimeout(pollLabel, timeout, signal, async (bounded) => {
        const sentAt = clock.now();
        const options = requestOptions(endpoint(bounded));
        const response = await oauth.deviceCodeGrantRequest(
          as,
          client,
          oauth.None(),
          deviceCode,
          verifier === undefined ? options : { ...options, additionalParameters: { code_verifier: verifier } },
        );
        const failure = statusFailure(response, pollLabel, clock.now());
        if (failure !== undefined) throw failure;
        return { as, response: await oauth.processDeviceCodeResponse(as, client, response), sentAt };
      });
    } catch (error) {
      // withTimeout turned oauth4webapi's ResponseBodyError into a SessionError with its `error` kept.
      const oauthError = isSessionError(error) ? error.oauthError : undefined;
      if (oauthError === 'authorization_pending') continue;
      if (oauthError === 'slow_down') {
        interval = Math.min(MAX_INTERVAL, interval + SLOW_DOWN_STEP);
        continue;
      }
      if (oauthError === 'access_denied') throw new SessionError('access_denied', 'The person refused the sign-in', { oauthError });
      if (oauthError === 'expired_token') throw expired();
      if (signal.aborted) throw abortError(signal);
      throw withoutSecrets(toSessionError(error, pollLabel, signal), verifier === undefined ? [deviceCode] : [deviceCode, verifier]);
    }
  }
}

function expired(): SessionError {
  return new SessionError('expired_token', 'The user code expired before the person approved the sign-in');
}

/** Waits `ms`, or rejects with the abort's error. Keeps the process alive: a sign-in is being waited for. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
