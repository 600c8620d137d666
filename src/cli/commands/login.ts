import { printable, stringOption as str } from '../arguments.js';
import { browserCommand, openBrowser } from '../browser.js';
import type { Token } from '../../index.js';
import { CliError, usageError } from '../cli-error.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { loopbackSignIn } from '../loopback.js';
import { discoverOpenEO } from '../openeo.js';
import { DEFAULT_SCOPE, presetProfile } from '../presets.js';
import { findProfile, profileName, saveProfile, type Profile } from '../profiles.js';
import type { Command } from '../run.js';
import { openProfileSession } from '../session.js';

const DEFAULT_TIMEOUT = 600;

/**
 * `login`: signs the person in for the profile (saved with what was given), with the device flow or, when a browser
 * can open (or `--browser`), the loopback redirect. The sign-in is shared at once with every process of this user.
 */
export const login: Command = async (values, { output, env, signal }): Promise<ExitCode> => {
  const name = profileName(str(values.profile), env);
  if (values.browser === true && values.device === true) throw usageError('login: --browser and --device exclude each other');
  const opener = browserCommand(env);
  const flow = values.browser === true ? 'browser' : values.device === true ? 'device' : opener !== undefined ? 'browser' : 'device';
  const timeout = seconds(str(values.timeout) ?? String(DEFAULT_TIMEOUT));
  const store = str(values.store) ?? 'file';
  if (store !== 'file' && store !== 'keychain') throw usageError('login: --store is file or keychain');

  const profile = await resolveProfile(name, values, flow, store, env);
  const session = openProfileSession(profile, { forSignIn: true });
  // Ctrl-C: the device flow's polling stops, the browser's listener closes, and the session lets go of the socket.
  try {
    let token: Token | undefined;
    if (flow === 'browser') {
      const now = await session.state(signal);
      if (now.signedIn) {
        output.tell(`Already signed in (profile ${name}); run shared-session logout first to sign in again.`);
        saveProfile(name, profile, env);
        return EXIT.ok;
      }
      const set = await loopbackSignIn({
        issuer: profile.issuer,
        clientId: profile.clientId,
        scope: profile.scope,
        timeout: timeout * 1000,
        signal,
        open: (url) => {
          output.tell(`Open this address in your browser to sign in to ${profile.issuer}:\n\n  ${url}\n`);
          if (opener !== undefined) void openBrowser(opener, url);
        },
      });
      token = await session.adopt(set);
    } else {
      // Our own timer: Node 20's AbortSignal.any holds an AbortSignal.timeout weakly, so it might never fire.
      const timer = new AbortController();
      const timeoutId = setTimeout(() => timer.abort(), timeout * 1000);
      token = await session.signIn({
        signal: AbortSignal.any([signal, timer.signal]),
        onPrompt: ({ verificationUri, verificationUriComplete, userCode }) => {
          const direct = verificationUriComplete === undefined ? '' : `\n(or open ${verificationUriComplete}, which fills the code in)`;
          output.tell(`To sign in to ${profile.issuer}, open\n\n  ${verificationUri}\n\nand enter the code ${userCode}.${direct}`);
        },
      })
        .catch((error: unknown) => {
          if (timer.signal.aborted && !signal.aborted) throw new CliError(EXIT.expired, `the sign-in was not completed within ${timeout} s`);
          throw error;
        })
        .finally(() => clearTimeout(timeoutId));
    }
    saveProfile(name, profile, env);
    output.tell(`Signed in (profile ${name}); the access token is valid until ${new Date(token.expiresAt).toISOString()}.`);
    return EXIT.ok;
  } finally {
    await session.close();
  }
};

async function resolveProfile(
  name: string,
  values: Readonly<Record<string, string | boolean | undefined>>,
  flow: 'device' | 'browser',
  store: 'file' | 'keychain',
  env: NodeJS.ProcessEnv,
): Promise<Profile> {
  const openeoUrl = str(values.openeo);
  const saved = findProfile(name, env);
  const preset = presetProfile(name);
  const given = { issuer: str(values.issuer), clientId: str(values['client-id']), scope: str(values.scope) };
  if (openeoUrl !== undefined) {
    if (given.issuer !== undefined) throw usageError('login: --openeo discovers the issuer; leave --issuer out');
    const found = await discoverOpenEO(openeoUrl, str(values['provider-id']), flow);
    const clientId = given.clientId ?? found.clientId;
    if (clientId === undefined) {
      throw usageError(`login: the openEO back-end lists no default client for the ${flow} flow of provider ${found.providerId}: pass --client-id${flow === 'browser' ? ' or --device' : ' or --browser'}`);
    }
    return { issuer: checkIssuer(found.issuer), clientId, scope: given.scope ?? found.scope, store, openeo: { url: found.url, providerId: found.providerId } };
  }
  if (values['provider-id'] !== undefined) throw usageError('login: --provider-id goes with --openeo');
  const issuer = given.issuer ?? saved?.issuer ?? preset?.issuer;
  const clientId = given.clientId ?? saved?.clientId ?? preset?.clientId;
  if (issuer === undefined) throw usageError(`login: profile ${name} is new: pass --issuer and --client-id (or --openeo <url>)`);
  if (clientId === undefined) throw usageError(`login: pass --client-id (a public client of ${printable(issuer)} that allows the ${flow} flow)`);
  const keep = saved !== undefined && given.issuer === undefined ? saved.openeo : undefined;
  return { issuer: checkIssuer(issuer), clientId, scope: given.scope ?? saved?.scope ?? DEFAULT_SCOPE, store, ...(keep !== undefined && { openeo: keep }) };
}

/** An `https:` issuer (`http:` only on this machine), without a trailing slash. */
function checkIssuer(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw usageError('login: --issuer must be an absolute URL');
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw usageError('login: --issuer must be an https: URL (http: only on this machine)');
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') throw usageError('login: --issuer must have no query, fragment or user name');
  return issuer.replace(/\/+$/, '');
}

function seconds(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1 || value > 86_400) throw usageError('login: --timeout is a whole number of seconds from 1 to 86400');
  return value;
}
