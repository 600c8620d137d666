import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Command } from '../run.js';
import { openProfileSession } from '../session.js';
import { savedProfile } from './profile-of.js';

/**
 * `status`: whether the profile is signed in, its issuer, client and the expiry of the token the processes share —
 * never a token. Exit code 0 when signed in, 3 when not, so that scripts can test it.
 */
export const status: Command = async (values, { output, env, signal }): Promise<ExitCode> => {
  const { name, profile } = savedProfile(values, env);
  const session = openProfileSession(profile);
  try {
    const state = await session.state(signal);
    const facts = {
      profile: name,
      signed_in: state.signedIn,
      issuer: profile.issuer,
      client_id: profile.clientId,
      scope: profile.scope,
      store: profile.store,
      ...(profile.openeo !== undefined && { openeo: profile.openeo.url, openeo_provider: profile.openeo.providerId }),
      ...(state.expiresAt !== undefined && { expires_at: new Date(state.expiresAt).toISOString() }),
    };
    if (values.json === true) output.result(JSON.stringify(facts));
    else for (const [key, value] of Object.entries(facts)) output.result(`${key.replace(/_/g, ' ')}: ${String(value)}`);
    return state.signedIn ? EXIT.ok : EXIT.notSignedIn;
  } finally {
    await session.close();
  }
};
