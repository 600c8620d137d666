// One Deno process of the device sign-in test: deviceSignIn from the packed package (`shared-session/node`), with a
// file store and localSharing. Prints `PROMPT <json>` for the test to approve, then `RESULT <json>`.
import { statSync } from 'node:fs';
import process from 'node:process';
import { deviceSignIn, localSharing } from 'shared-session/node';

const config = JSON.parse(process.argv[2]!) as { issuer: string; clientId: string; file: string; dir: string };
let prompts = 0;
const options = {
  issuer: config.issuer,
  clientId: config.clientId,
  store: { path: config.file },
  sharing: localSharing({ dir: config.dir }),
  onPrompt: ({ verificationUri, userCode }: { verificationUri: string; userCode: string }) => {
    prompts++;
    process.stdout.write(`PROMPT ${JSON.stringify({ verificationUri, userCode })}\n`);
  },
};
const errors: string[] = [];
const session = deviceSignIn(options);
session.on('error', (error) => errors.push(`${error.code}: ${error.message}`));
const first = await session.signIn();
const { accessToken } = await session.getToken();
const storedMode = (statSync(config.file).mode & 0o777).toString(8);
await session.signOut();
const afterSignOut = await session.getToken().then(
  () => 'token',
  (error: { code?: string }) => error.code ?? 'thrown',
);
await session.close();
process.stdout.write(`RESULT ${JSON.stringify({ same: first.accessToken === accessToken, prompts, storedMode, afterSignOut, errors: errors.filter((error) => !error.startsWith('login_required')) })}\n`);
