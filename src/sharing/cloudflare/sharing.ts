import { isSessionError, SessionError } from '../../core/errors.js';
import type { Sharing, SharingPeer } from '../sharing.js';
import { boundedByClock, type TokenSet } from '../../core/token.js';
import {
  answerSchema,
  type CoordinatorAnswer,
  type CoordinatorRequest,
  describeFailure,
  failureError,
  inClockOf,
  MAX_DURATION,
  PROTOCOL_VERSION,
} from './protocol.js';
import type { CoordinatorNamespace, CoordinatorStub } from './types.js';
import { endsChain } from '../rules/refresh-chain.js';

/** Options of {@link durableObjectSharing}. */
export interface DurableObjectSharingOptions {
  /**
   * Longest time (ms) one call to the coordinator may take, waiting for another isolate's token request included.
   * Past it `getToken` rejects with `timeout`. Keep it longer than `leaseTime`. Default 60 000.
   */
  readonly timeout?: number | undefined;
  /**
   * How long (ms) the lease of the isolate that fetches a token lasts without news from it. The holder renews it
   * every third of that while its provider's retry chain runs, so a live holder is never replaced; one that died is
   * replaced this long after its last renewal. Default 30 000.
   */
  readonly leaseTime?: number | undefined;
}

const DEFAULTS = { timeout: 60_000, leaseTime: 30_000 } as const;
/** The coordinator answers `busy` this long before the isolate would give up, so the caller gets a clean answer. */
const ANSWER_AHEAD = 1_000;
/** A token the coordinator hands out that the isolate finds too old is rejected and asked for again, this often. */
const MAX_ROUNDS = 3;
/** Renewals of a lease are at least this far apart (ms), however short the lease. */
const RENEW_AT_LEAST_EVERY = 50;
const COORDINATOR_URL = 'https://token-coordinator.shared-session/';

/**
 * Shares one token per credential between all Worker isolates through the `TokenCoordinator` Durable Object bound
 * as `namespace` (one object per credential key). Pass it as the `sharing` option of `createSession`.
 *
 * The token endpoint is called in the isolate (where the client secret lives, in `env`), by exactly one isolate at a
 * time per credential; the others wait for its token. Each isolate keeps the token in memory and checks expiry and
 * the refresh margin on every read, so most requests never reach the coordinator.
 *
 * @example
 * const session = createSession({ provider, sharing: durableObjectSharing(env.TOKEN_COORDINATOR) });
 */
export function durableObjectSharing<Id>(
  namespace: CoordinatorNamespace<Id>,
  options: DurableObjectSharingOptions = {},
): Sharing {
  if (typeof namespace?.idFromName !== 'function' || typeof namespace.get !== 'function') {
    throw new SessionError('invalid_options', 'durableObjectSharing needs a Durable Object namespace binding (env.…)');
  }
  const timeout = checkDuration('timeout', options.timeout ?? DEFAULTS.timeout);
  const leaseTime = checkDuration('leaseTime', options.leaseTime ?? DEFAULTS.leaseTime);
  return {
    kind: 'durable-object',
    acrossProcesses: true,
    connect(peer) {
      const id = namespace.idFromName(peer.key);
      // A stub per call: the runtime ties a stub to the request that made it, and a session outlives requests.
      const call = (request: CoordinatorRequest): Promise<CoordinatorAnswer> => send(namespace.get(id), request, timeout);
      // Refresh-token chains only: the sign-out epoch this session's chain belongs to, learnt from the first answer.
      // Sent with every `acquire`: after a sign-out anywhere the coordinator answers `signed_out`, never a lease.
      let epoch: number | undefined;
      // Told by the coordinator: the sign-out reaches this session now. Once it has received it, the session refuses
      // every token request itself (`login_required`, its own refusal: `cleared` tells, no `error` event); asking it
      // is how that refusal reaches the caller. Nothing is sent: a refusal is thrown before any request.
      const signedOut = async (): Promise<never> => {
        peer.receiveClear();
        if (peer.usesRefreshToken) await peer.fetchToken();
        throw new SessionError('login_required', 'Signed out in another isolate: this refresh token must not be used again');
      };
      return {
        // Workers have no life between requests in which a timer could refresh ahead: refresh on demand instead.
        leading: false,
        // Asking the coordinator is a round trip; `obtain` makes it and gets the stored token when it is usable.
        load: () => Promise.resolve(undefined),
        async obtain(rejected) {
          let avoid = rejected;
          for (let round = 1; ; round++) {
            const wait = Math.max(0, timeout - ANSWER_AHEAD);
            // `start`: which initial refresh token this isolate would start a chain from (one whose chain ended is spent).
            const start = peer.initialRefreshTokenDigest;
            const request: CoordinatorRequest = { v: PROTOCOL_VERSION, type: 'acquire', rejected: avoid, wait, lease: leaseTime, start };
            if (peer.usesRefreshToken && epoch !== undefined) request.epoch = epoch;
            const sent = peer.clock.now();
            const answer = await call(request);
            if ((answer.type === 'token' || answer.type === 'lease') && answer.notice !== undefined) {
              peer.report(new SessionError(answer.notice, 'The coordinator discarded an unreadable stored state'));
            }
            switch (answer.type) {
              case 'token': {
                epoch ??= answer.epoch;
                // Read in this isolate's clock (the coordinator's may differ), and never in this isolate's future.
                const token = boundedByClock(inClockOf(answer.token, answer.now, sent), peer.clock.now());
                // The coordinator only knows expiry; the refresh margin is this session's to judge.
                if (peer.isUsable(token, rejected) || round === MAX_ROUNDS) return { token };
                avoid = token.accessToken;
                continue;
              }
              case 'lease':
                epoch ??= answer.epoch;
                return fetchUnderLease(peer, call, answer, signedOut);
              case 'failed':
                throw failureError(answer.failure);
              case 'busy':
                throw new SessionError('timeout', 'Timed out waiting for another isolate to fetch the token');
              case 'signed_out':
                return signedOut();
              default:
                throw new SessionError('invalid_message', `The coordinator answered ${answer.type} to acquire`);
            }
          }
        },
        async clear() {
          await call({ v: PROTOCOL_VERSION, type: 'clear' });
        },
        close: () => Promise.resolve(),
      };
    },
  };
}

/** This isolate holds the lease: fetch (renewing the lease meanwhile), then hand the token (never the secret) over. */
async function fetchUnderLease(
  peer: SharingPeer,
  call: (request: CoordinatorRequest) => Promise<CoordinatorAnswer>,
  lease: Extract<CoordinatorAnswer, { type: 'lease' }>,
  signedOut: () => Promise<never>,
): Promise<TokenSet> {
  // The provider's retry chain (attempts × per-attempt timeout + backoff, Retry-After waits) may outlast the lease:
  // renew it while this isolate is at work, so that nobody else fetches meanwhile. Best effort: a lost renewal only
  // risks a second fetch, which fencing keeps out of storage.
  const renewal = setInterval(() => {
    call({ v: PROTOCOL_VERSION, type: 'renew', lease: lease.lease }).catch(() => {});
  }, Math.max(RENEW_AT_LEAST_EVERY, Math.floor(lease.ttl / 3)));
  let set: TokenSet;
  try {
    set = await peer.fetchToken(lease.refreshToken);
  } catch (error) {
    clearInterval(renewal);
    const failure = isSessionError(error) ? describeFailure(error) : undefined;
    // The refresh token was refused: the chain ends for every isolate, in the same write as the release, so that no
    // other holder is handed the spent token (rules/refresh-chain.ts). Then this isolate is signed out too, once the
    // failure has reached the callers that asked.
    const spent = endsChain(error, peer.usesRefreshToken);
    const abandon: CoordinatorRequest = { v: PROTOCOL_VERSION, type: 'abandon', lease: lease.lease, failure };
    if (spent) abandon.spent = true;
    // Best effort: if this does not arrive, the others wait until the lease expires and one of them tries.
    await call(abandon).catch((lost: unknown) => peer.report(degraded(lost)));
    if (spent) setTimeout(() => peer.receiveClear(), 0);
    throw error;
  }
  clearInterval(renewal);
  // The refresh token is stored only for grants that rotate it: the next lease holder must continue from it.
  const keep = peer.usesRefreshToken ? set.refreshToken : undefined;
  let answer: CoordinatorAnswer;
  try {
    answer = await call({ v: PROTOCOL_VERSION, type: 'fulfil', lease: lease.lease, token: set.token, refreshToken: keep, now: peer.clock.now() });
  } catch (error) {
    // This caller has its token; the others will get theirs after the lease expires. Say so, do not fail.
    peer.report(degraded(error));
    return set;
  }
  if (answer.type === 'done' && answer.stored === false && answer.epoch !== undefined && answer.epoch !== lease.epoch) {
    // Signed out while the request was on its way: this token was requested before the sign-out, so it is handed
    // out nowhere, not even here.
    if (peer.usesRefreshToken) return signedOut();
    peer.receiveClear();
    throw new SessionError('aborted', 'Signed out in another isolate while this token was requested');
  }
  return set;
}

async function send(stub: CoordinatorStub, request: CoordinatorRequest, timeout: number): Promise<CoordinatorAnswer> {
  const deadline = AbortSignal.timeout(timeout);
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Belt and braces: a stub may ignore the signal, and a caller must never hang.
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new SessionError('timeout', 'The token coordinator did not answer in time')), timeout);
  });
  try {
    return await Promise.race([exchange(stub, request, deadline), expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function exchange(stub: CoordinatorStub, request: CoordinatorRequest, signal: AbortSignal): Promise<CoordinatorAnswer> {
  let response: Response;
  let body: unknown;
  try {
    response = await stub.fetch(COORDINATOR_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal,
    });
    body = response.ok ? await response.json().catch(() => undefined) : undefined;
  } catch (error) {
    if (signal.aborted) throw new SessionError('timeout', 'The token coordinator did not answer in time', { cause: error });
    throw new SessionError('sharing_unavailable', 'The token coordinator could not be reached', { cause: error });
  }
  if (!response.ok) {
    throw new SessionError('sharing_unavailable', `The token coordinator answered HTTP ${response.status}`, {
      status: response.status,
    });
  }
  const parsed = answerSchema.safeParse(body);
  if (!parsed.success) throw new SessionError('invalid_message', 'The token coordinator sent a malformed answer');
  return parsed.data;
}

function degraded(cause: unknown): SessionError {
  return new SessionError('sharing_degraded', 'The token could not be handed to the coordinator', { cause });
}

function checkDuration(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0 || value > MAX_DURATION) {
    throw new SessionError('invalid_options', `${name} must be a whole number of ms between 1 and ${MAX_DURATION}`);
  }
  return value;
}
