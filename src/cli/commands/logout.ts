import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Command } from '../run.js';
import { openProfileSession } from '../session.js';
import { savedProfile } from './profile-of.js';

/**
 * `logout`: revokes the sign-in at the provider, deletes the stored refresh token and signs out every process that
 * shares the session (they stop getting tokens). The profile itself stays, so `login` needs no options next time.
 */
export const logout: Command = async (values, { output, env }): Promise<ExitCode> => {
  const { name, profile } = savedProfile(values, env);
  const session = openProfileSession(profile);
  try {
    await session.signOut();
    output.tell(`Signed out (profile ${name}).`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
};
