import { expect } from 'vitest';
import type { ErrorCode } from '../../../src/core/errors.js';
import type { RelyingPartyConfig } from '../fixtures/relying-party.js';
import type { Defect } from './misbehaving-provider.js';
import type { Conformance, SignInOutcome } from './relying-parties.js';

/**
 * One conformance case: the provider's defect, where it comes from and what the spec says, and what the session
 * must do — refuse with one of `refused` (typed `SessionError` codes), or accept (`accepted` says why the spec allows
 * it). `docs/security-conformance.md` lists the same cases.
 */
export interface ConformanceCase {
  /** The RP certification plan's name where one exists, else `<source>-<what>`. */
  readonly id: string;
  /** Where the rule comes from: `OIDC Core §3.1.3.7 (3)`, `RFC 9207 §2.4`… */
  readonly rule: string;
  readonly defect: Defect;
  readonly rp?: Partial<RelyingPartyConfig>;
  readonly refused?: readonly ErrorCode[];
  /** Why the spec allows accepting it. */
  readonly accepted?: string;
}

export const title = (test: ConformanceCase): string =>
  test.refused === undefined ? `${test.id}: accepted (${test.accepted ?? ''})` : `${test.id}: refused (${test.refused.join(' or ')}) — ${test.rule}`;

/** The sign-in was refused with one of `codes`, at the start or at the callback: never signed in, no token. */
export async function expectSignInRefused(env: Conformance, caseId: string, outcome: SignInOutcome, codes: readonly string[]): Promise<void> {
  const code = outcome.phase === 'ready' ? outcome.ready : outcome.code;
  expect(codes, `refused with ${code}`).toContain(code);
  expect(await env.inRp(caseId, (rp) => rp.state().signedIn)).toBe(false);
  expect(await env.inRp(caseId, (rp) => rp.token())).toBe('error:login_required');
  if (outcome.phase === 'ready') expect(outcome).toMatchObject({ signedIn: false, token: 'error:login_required' });
  expect(env.op.counts(caseId).reusedRefreshTokens).toBe(0);
}

/** The sign-in completed: signed in as the provider's user, holding the access token it issued last. */
export function expectSignedIn(env: Conformance, caseId: string, outcome: SignInOutcome): void {
  expect(outcome).toMatchObject({ phase: 'ready', ready: 'ok', signedIn: true, errors: [] });
  const counts = env.op.counts(caseId);
  expect(outcome.phase === 'ready' && outcome.token).toBe(counts.accessTokens.at(-1));
  expect(counts).toMatchObject({ codeExchanges: 1, failedCodeExchanges: 0, reusedRefreshTokens: 0 });
  // The authorization response is taken out of the address bar (Browser-Based Apps BCP: no code left in history).
  const url = new URL(outcome.phase === 'ready' ? outcome.url : '');
  expect([...url.searchParams.keys()].filter((name) => ['code', 'state', 'iss'].includes(name))).toEqual([]);
}
