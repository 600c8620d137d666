import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Command } from '../run.js';
import { openProfileSession } from '../session.js';
import { savedProfile } from './profile-of.js';

/**
 * `token`: a fresh access token of the profile's shared session on stdout and nothing else (for `GDAL_HTTP_BEARER`,
 * `curl -H "Authorization: Bearer $(shared-session token)"`); `--json` prints `{access_token, token_type,
 * expires_at}` (expires_at in seconds since the epoch, as OAuth's `exp`).
 */
export const token: Command = async (values, { output, env, signal }): Promise<ExitCode> => {
  const { profile } = savedProfile(values, env);
  const session = openProfileSession(profile);
  try {
    const found = await session.getToken(signal);
    output.result(
      values.json === true
        ? JSON.stringify({ access_token: found.accessToken, token_type: found.tokenType, expires_at: Math.floor(found.expiresAt / 1000) })
        : found.accessToken,
    );
    return EXIT.ok;
  } finally {
    await session.close();
  }
};
