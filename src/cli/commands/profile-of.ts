import { CliError } from '../cli-error.js';
import { EXIT } from '../exit-codes.js';
import { findProfile, profileName, type Profile } from '../profiles.js';
import { stringOption } from '../arguments.js';

/** The saved profile the command is about; none saved means nobody signed in with it (exit code 3). */
export function savedProfile(values: Readonly<Record<string, string | boolean | undefined>>, env: NodeJS.ProcessEnv): { name: string; profile: Profile } {
  const name = profileName(stringOption(values.profile), env);
  const profile = findProfile(name, env);
  if (profile === undefined) throw new CliError(EXIT.notSignedIn, `not signed in: no profile ${name} (run: shared-session login${name === 'default' ? '' : ` --profile ${name}`})`);
  return { name, profile };
}
