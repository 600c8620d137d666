import type { Clock } from '../core/clock.js';
import type { DPoPOptions, SessionDPoP } from '../core/dpop.js';
import { SessionError } from '../core/errors.js';
import { secretDigest } from '../providers/client-credentials.js';
import { inBrowser } from '../core/in-browser.js';
import type { TokenProvider } from '../providers/provider.js';
import type { Sharing } from '../sharing/sharing.js';

/** Tells this process's generated key from every other process's: sessions that use it share tokens only here. */
let processKeyId: string | undefined;

/**
 * `provider` with DPoP, for a session created with `dpop`. Its credential key names the DPoP key, so a session bound
 * to one key never shares a token with a Bearer session or with one bound to another key; every token request it
 * sends gets the session's DPoP to sign its proofs. The DPoP code (`#dpop`, a module no core bundle holds) is loaded
 * on first use: a session without `dpop` never loads it, so the core does not grow. A transport that hands the token
 * to other processes (`sharing.acrossProcesses`) needs a key every member has: `dpop: true` there is refused by that
 * code, before the first token request (here, it would grow every bundle).
 */
export function withDPoP(provider: TokenProvider, option: unknown, clock: Clock, sharing?: Sharing): { provider: TokenProvider; dpop: SessionDPoP } {
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw new SessionError('invalid_options', 'dpop must be true or an object ({ key, allowBearer })');
  }
  const { key, allowBearer = false } = option === true ? {} : (option as DPoPOptions);
  if (typeof allowBearer !== 'boolean') throw new SessionError('invalid_options', 'dpop.allowBearer must be a boolean');
  // A browser's generated key is the origin's (IndexedDB, under a Web Lock, see #dpop): every context shares it. Decided
  // here once, for the credential key below and for the key the DPoP code loads.
  const originWide = key === undefined && inBrowser();
  let loaded: Promise<SessionDPoP> | undefined;
  const dpop = lazySessionDPoP(allowBearer, () =>
    (loaded ??= import('#dpop').then(({ loadSessionDPoP }) => {
      // `option` is dropped once read: the session keeps the non-extractable key, never the PEM or JWK it was given
      // (as the JWT providers keep no copy of theirs).
      const given = option as true | DPoPOptions;
      option = undefined;
      return loadSessionDPoP(given, clock, undefined, originWide ? provider.key : undefined, sharing);
    })),
  );
  // What tells the key from every other, never key material: this process's id for its generated key, else the
  // collision-resistant digest used for secrets, of the PEM or of the key object (a `DPoPKey` reads as its public
  // JWK and thumbprint; a `CryptoKey` inside reads as `{}`). A JWK's members are sorted first: the same key parsed
  // from a secrets manager or exported by node:crypto is one credential whatever the order of its members.
  const identity =
    originWide ? 'origin' : key === undefined ? `process:${(processKeyId ??= crypto.randomUUID())}` : secretDigest(typeof key === 'string' ? key.replace(/\s+/g, '') : JSON.stringify(Object.entries(Object(key)).sort()))!;
  const { canRefresh, usesRefreshToken, signsIn, initialRefreshTokenDigest } = provider;
  return {
    dpop,
    provider: {
      key: `${provider.key}|dpop=${encodeURIComponent(identity)}`,
      canRefresh,
      usesRefreshToken,
      signsIn,
      initialRefreshTokenDigest,
      // Only DPoP tokens (or Bearer where allowed), whatever the provider: checked by the DPoP code (`dpopTokenSet`).
      fetchToken: async (context) => {
        const set = await provider.fetchToken({ ...context, dpop });
        return (await import('#dpop')).dpopTokenSet(set, allowBearer);
      },
    },
  };
}

/**
 * A `SessionDPoP` whose methods load the DPoP code on their first call (`load`): what a session holds before any
 * proof is needed. The one list of the methods, for `createSession`'s DPoP and the sign-in's.
 */
export function lazySessionDPoP(allowBearer: boolean, load: () => Promise<SessionDPoP>): SessionDPoP {
  const dpop: Record<string, unknown> = { allowBearer };
  for (const method of ['jkt', 'proof', 'received', 'fetchResource', 'requestToken'] as const) {
    dpop[method] = async (...args: unknown[]): Promise<unknown> => ((await load())[method] as (...a: unknown[]) => Promise<unknown>)(...args);
  }
  return dpop as unknown as SessionDPoP;
}
