import type { ApiRequestRecord } from './openid-provider.js';

/** The `jti` claim of a DPoP proof (decoded, not verified): what joins a context's call to the API's record of it. */
export function jtiOf(proof: string): string | undefined {
  return (JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()) as { jti?: string }).jti;
}

/** One API call as the context that made it saw it (a page's `ApiCallRecord`, a worker's answer), named by its context. */
export interface ContextCall {
  readonly context: string;
  /** The context's `Date.now()` right after `getToken` resolved. */
  readonly handedOutAt?: number | undefined;
  /** The proof's `jti`: what joins the call to the API's record of it. */
  readonly jti?: string | undefined;
  readonly status?: number | undefined;
  readonly error?: string | undefined;
}

/** A call refused only because its token expired between the hand-out and the API's judgement. */
export interface ExpiredInFlight {
  readonly context: string;
  /** ms the token had left, by the provider's `exp`, when the session handed it out (or when the proof was signed). */
  readonly left: number;
  /** ms from the hand-out to the API's judgement: how long the loaded machine held the call. */
  readonly flight: number;
}

export interface JudgedCalls {
  readonly accepted: number;
  readonly expiredInFlight: readonly ExpiredInFlight[];
  /** Everything else, each with why: these are the session's failures. */
  readonly failures: readonly string[];
}

/**
 * Judges every API call of a run by the rule "never an expired token, and no call refused for any reason but the
 * machine's delay": the contexts' records (when the session handed each token out) joined by `jti` to the API's
 * (when it judged the request, and the provider's own `exp` of the token sent).
 *
 * - A token handed out at or after its `exp` is a failure, whatever the API said.
 * - A call the API refused is excused only when the proof was valid in every respect (signature, `htm`, `htu`,
 *   `iat`, `ath`, `jti` never seen, this provider's token) and the token, alive when handed out, had expired by the
 *   time the API judged it: `handedOutAt < exp <= judgedAt`. The token's remaining life was shorter than the time
 *   the machine held the call in flight, so the delay, not the session, refused it.
 * - Every other refusal (another key, a replayed `jti`, no proof, a token this provider never issued, a 401 of
 *   `rejectNextApiCalls`), a call the API never saw, and a `getToken`/`dpopProof`/fetch that threw are failures.
 * - A refusal of a context that cannot report (a tab killed with its calls in flight) is judged from the API's side:
 *   excused only if its proof was signed before the token's `exp` (`iat` < `exp`, in whole seconds, which only
 *   errs towards failing).
 */
export function judgeCalls(calls: readonly ContextCall[], requests: readonly ApiRequestRecord[]): JudgedCalls {
  const byJti = new Map(requests.filter((request) => request.jti !== undefined).map((request) => [request.jti!, request]));
  const failures: string[] = [];
  const expiredInFlight: ExpiredInFlight[] = [];
  let accepted = 0;
  const reported = new Set<string>();
  const excuse = (context: string, request: ApiRequestRecord, handedOutAt: number): void => {
    expiredInFlight.push({ context, left: request.tokenExpiresAt! - handedOutAt, flight: request.judgedAt - handedOutAt });
  };
  for (const call of calls) {
    if (call.jti !== undefined) reported.add(call.jti);
    const request = call.jti === undefined ? undefined : byJti.get(call.jti);
    if (call.error !== undefined || call.handedOutAt === undefined || request === undefined) {
      failures.push(`${call.context}: ${call.error ?? (request === undefined ? 'never reached the API' : 'no token')}`);
      continue;
    }
    if (request.tokenExpiresAt === undefined) {
      failures.push(`${call.context}: a token the provider never issued (${request.outcome})`);
      continue;
    }
    if (call.handedOutAt >= request.tokenExpiresAt) {
      failures.push(`${call.context}: token handed out ${call.handedOutAt - request.tokenExpiresAt} ms after it expired (${request.outcome})`);
      continue;
    }
    if (call.status === 200 && request.outcome === 'ok') accepted++;
    else if (isExpiredWhenJudged(call.status, request)) excuse(call.context, request, call.handedOutAt);
    else failures.push(`${call.context}: ${call.status} ${request.outcome}, handed out with ${request.tokenExpiresAt - call.handedOutAt} ms left, judged ${request.judgedAt - call.handedOutAt} ms later`);
  }
  // Refusals no context reported (the killed tab's calls in flight).
  for (const request of requests) {
    if (request.outcome === 'ok' || (request.jti !== undefined && reported.has(request.jti))) continue;
    const signedAlive = request.iat !== undefined && request.tokenExpiresAt !== undefined && request.iat * 1_000 < Math.floor(request.tokenExpiresAt / 1_000) * 1_000;
    if (signedAlive && isExpiredWhenJudged(401, request)) excuse('unreported', request, request.iat! * 1_000);
    else failures.push(`unreported call: ${request.outcome}, proof iat ${request.iat}, token exp ${request.tokenExpiresAt}`);
  }
  return { accepted, expiredInFlight, failures };
}

function isExpiredWhenJudged(status: number | undefined, request: ApiRequestRecord): boolean {
  return status === 401 && request.outcome === 'unknown-token' && request.tokenExpiresAt !== undefined && request.tokenExpiresAt <= request.judgedAt;
}
