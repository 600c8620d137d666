import { isSessionError, SessionError } from '../../core/errors.js';
import type { Sharing, SharingPeer } from '../sharing.js';
import type { TokenSet } from '../../core/token.js';
import {
  answerSchema,
  type CoordinatorAnswer,
  type CoordinatorRequest,
  describeFailure,
  failureError,
  MAX_DURATION,
  PROTOCOL_VERSION,
} from './protocol.js';
import type { CoordinatorNamespace, CoordinatorStub } from './types.js';

/** Options of {@link durableObjectSharing}. */
export interface DurableObjectSharingOptions {
  /**
   * Longest time (ms) one call to the coordinator may take, waiting for another isolate's token request included.
   * Past it `getToken` rejects with `timeout`. Keep it longer than `leaseTime`. Default 60 000.
   */
  readonly timeout?: number | undefined;
  /**
   * How long (ms) the isolate that fetches a token may take before another isolate may try instead (the holder
   * died, or hangs). Keep it longer than the provider's retries take. Default 30 000.
   */
  readonly leaseTime?: number | undefined;
}

const DEFAULTS = { timeout: 60_000, leaseTime: 30_000 } as const;
/** The coordinator answers `busy` this long before the isolate would give up, so the caller gets a clean answer. */
const ANSWER_AHEAD = 1_000;
/** A token the coordinator hands out that the isolate finds too old is rejected and asked for again, this often. */
const MAX_ROUNDS = 3;
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
    connect(peer) {
      const id = namespace.idFromName(peer.key);
      // A stub per call: the runtime ties a stub to the request that made it, and a session outlives requests.
      const call = (request: CoordinatorRequest): Promise<CoordinatorAnswer> => send(namespace.get(id), request, timeout);
      return {
        // Workers have no life between requests in which a timer could refresh ahead: refresh on demand instead.
        leading: false,
        // Asking the coordinator is a round trip; `obtain` makes it and gets the stored token when it is usable.
        load: () => Promise.resolve(undefined),
        async obtain(rejected) {
          let avoid = rejected;
          for (let round = 1; ; round++) {
            const wait = Math.max(0, timeout - ANSWER_AHEAD);
            const answer = await call({ v: PROTOCOL_VERSION, type: 'acquire', rejected: avoid, wait, lease: leaseTime });
            if ((answer.type === 'token' || answer.type === 'lease') && answer.notice !== undefined) {
              peer.report(new SessionError(answer.notice, 'The coordinator discarded an unreadable stored token'));
            }
            switch (answer.type) {
              case 'token':
                // The coordinator only knows expiry; the refresh margin is this session's to judge.
                if (peer.isUsable(answer.token, rejected) || round === MAX_ROUNDS) return { token: answer.token };
                avoid = answer.token.accessToken;
                continue;
              case 'lease':
                return fetchUnderLease(peer, call, answer.lease, answer.refreshToken);
              case 'failed':
                throw failureError(answer.failure);
              case 'busy':
                throw new SessionError('timeout', 'Timed out waiting for another isolate to fetch the token');
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

/** This isolate holds the lease: fetch, then hand the token (never the secret) to the coordinator. */
async function fetchUnderLease(
  peer: SharingPeer,
  call: (request: CoordinatorRequest) => Promise<CoordinatorAnswer>,
  lease: string,
  refreshToken: string | undefined,
): Promise<TokenSet> {
  let set: TokenSet;
  try {
    set = await peer.fetchToken(refreshToken);
  } catch (error) {
    const failure = isSessionError(error) ? describeFailure(error) : undefined;
    // Best effort: if this does not arrive, the others wait until the lease expires and one of them tries.
    await call({ v: PROTOCOL_VERSION, type: 'abandon', lease, failure }).catch((lost: unknown) => peer.report(degraded(lost)));
    throw error;
  }
  // The refresh token is stored only for grants that rotate it: the next lease holder must continue from it.
  const keep = peer.usesRefreshToken ? set.refreshToken : undefined;
  try {
    await call({ v: PROTOCOL_VERSION, type: 'fulfil', lease, token: set.token, refreshToken: keep });
  } catch (error) {
    // This caller has its token; the others will get theirs after the lease expires. Say so, do not fail.
    peer.report(degraded(error));
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
