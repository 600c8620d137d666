import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, constants } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { CliError, usageError } from './cli-error.js';
import { configDirectory } from '../device/stores/config-directory.js';
import { EXIT } from './exit-codes.js';

/** What a profile remembers: where to sign in, never a token (tokens live in the token store). */
export interface Profile {
  readonly issuer: string;
  readonly clientId: string;
  readonly scope: string;
  /** Where the refresh token is kept between runs. */
  readonly store: 'file' | 'keychain';
  /** Set when the profile signs in to an openEO back-end: its API root and the OIDC provider id it lists. */
  readonly openeo?: { readonly url: string; readonly providerId: string } | undefined;
}

const profileSchema = z.object({
  issuer: z.string().check(z.minLength(1)),
  clientId: z.string().check(z.minLength(1)),
  scope: z.string(),
  store: z.enum(['file', 'keychain']),
  openeo: z.optional(z.object({ url: z.string(), providerId: z.string() })),
});

const configSchema = z.object({
  version: z.literal(1),
  profiles: z.record(z.string(), profileSchema),
});

type Config = z.infer<typeof configSchema>;

/** Profile names: what a file name and a shell argument can hold without quoting. */
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) throw usageError('a profile name is 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  return name;
}

export function profileName(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return checkProfileName(given ?? (env.SHARED_SESSION_PROFILE || 'default'));
}

/** The profiles' directory: shared-session's in the user's configuration directory, beside the device sign-in's tokens. */
export function profilesDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDirectory(process.platform, env), 'shared-session');
}

export function profilesPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(profilesDirectory(env), 'profiles.json');
}

/**
 * The saved profiles. The file must be ours and readable by us only (0600, not a symlink), else it is refused rather
 * than read: a profile names the issuer a token is asked from, and another user able to change it could send the
 * person's sign-in elsewhere.
 */
export function readProfiles(env: NodeJS.ProcessEnv = process.env): Config {
  const path = profilesPath(env);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, profiles: {} };
    throw new CliError(EXIT.storage, `cannot open the profile file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const stat = fstatSync(fd);
    const uid = process.getuid?.();
    if (!stat.isFile()) throw new CliError(EXIT.storage, `the profile file ${path} is not a regular file`);
    if (uid !== undefined && stat.uid !== uid) throw new CliError(EXIT.storage, `the profile file ${path} belongs to another user: refused`);
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new CliError(EXIT.storage, `the profile file ${path} can be read or changed by others (mode ${(stat.mode & 0o777).toString(8)}): refused; chmod 600 it`);
    }
    const parsed = configSchema.safeParse(parseJson(readFileSync(fd, 'utf8')));
    if (!parsed.success) throw new CliError(EXIT.storage, `the profile file ${path} is not one shared-session wrote: fix or delete it`);
    return parsed.data;
  } finally {
    closeSync(fd);
  }
}

export function findProfile(name: string, env: NodeJS.ProcessEnv = process.env): Profile | undefined {
  const found = readProfiles(env).profiles[name];
  return found === undefined ? undefined : withoutUndefined(found);
}

/** Saves `profile` under `name`: written to a temporary file (0600) and renamed, so a crash never leaves half a file. */
export function saveProfile(name: string, profile: Profile, env: NodeJS.ProcessEnv = process.env): void {
  const config = readProfiles(env);
  config.profiles[name] = { ...profile, ...(profile.openeo !== undefined && { openeo: { ...profile.openeo } }) };
  writeConfig(config, env);
}

export function deleteProfile(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const config = readProfiles(env);
  if (!(name in config.profiles)) return false;
  delete config.profiles[name];
  writeConfig(config, env);
  return true;
}

function writeConfig(config: Config, env: NodeJS.ProcessEnv): void {
  const directory = profilesDirectory(env);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stat = lstatSync(directory);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new CliError(EXIT.storage, `the configuration directory ${directory} is not a directory of this user: refused`);
  }
  const path = profilesPath(env);
  // A random name, not the pid: a container runs every command line as the same pid, and a killed run leaves its file.
  const random = Array.from(crypto.getRandomValues(new Uint8Array(8)), (byte) => byte.toString(16).padStart(2, '0')).join('');
  const temporary = `${path}.${random}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new CliError(EXIT.storage, `cannot write the profile file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function withoutUndefined(profile: z.infer<typeof profileSchema>): Profile {
  const { openeo, ...rest } = profile;
  return openeo === undefined ? rest : { ...rest, openeo };
}
