import { isSessionError } from '../../core/errors.js';

/**
 * The rules of a refresh-token chain (grants that rotate refresh tokens, `refreshTokenGrant`) that every transport
 * keeping the newest refresh token for its contexts follows, whatever it stores it in.
 *
 * A spent refresh token is sent at most once. A holder that dies after the provider rotated its refresh token and
 * before it stored the next one leaves a spent token behind, and nobody can tell from the outside whether its request
 * reached the provider. So:
 * - {@link endsChain}: the token endpoint refused the refresh token (`invalid_grant`): it is spent (or revoked), and
 *   every context holds the same one. The chain ends for all of them at once — a sign-out, stored with the refusal in
 *   one step, so that no other context is handed the refused token in between — instead of each sending it again.
 * - {@link afterLapse}: the holder that was handed the refresh token vanished (its lease ran out without an answer).
 *   The token is handed out once more — its holder may have died before sending it — and marked; a second holder that
 *   vanishes with it ends the chain without a request.
 */

/** Whether `error`, from a refresh that sent the chain's refresh token, ends the chain (signs every context out). */
export function endsChain(error: unknown, usesRefreshToken: boolean): boolean {
  return usesRefreshToken && isSessionError(error, 'invalid_grant');
}

/** What to do with a stored refresh token whose holder vanished: `lapsedBefore` — it had vanished with one already. */
export function afterLapse(lapsedBefore: boolean): 'hand-out-once-more' | 'end-chain' {
  return lapsedBefore ? 'end-chain' : 'hand-out-once-more';
}
