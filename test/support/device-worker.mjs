// One process of the device sign-in tests (types and commands: device-worker.ts). Runs the built package.
import { isSessionError } from '../../dist/index.js';
import { deviceSignIn, localSharing } from '../../dist/node.js';

const config = JSON.parse(process.env.DEVICE_WORKER ?? '{}');
const send = (message) => void process.send?.(message);

const session = deviceSignIn({
  issuer: config.issuer,
  clientId: config.clientId,
  store: config.store ?? { path: config.file },
  sharing: localSharing({ dir: config.dir }),
  onPrompt: ({ verificationUri, userCode }) => send({ event: 'prompt', verificationUri, userCode }),
});
session.on('cleared', (origin) => send({ event: 'cleared', origin }));
session.on('error', (error) => send({ event: 'error', code: error.code, message: error.message }));

const answer = async (work) => {
  try {
    const { accessToken } = await work();
    return { accessToken };
  } catch (error) {
    return isSessionError(error) ? { code: error.code, message: error.message } : { code: 'thrown', message: String(error) };
  }
};

process.on('message', (request) => {
  const reply = (result) => send({ id: request.id, ...result });
  switch (request.cmd) {
    case 'signIn':
      void answer(() => session.signIn()).then(reply);
      return;
    case 'getToken':
      void answer(() => session.getToken({ forceRefresh: request.forceRefresh === true })).then(reply);
      return;
    case 'signOut':
      session.signOut().then(
        () => reply({ ok: true }),
        (error) => reply({ ok: false, code: isSessionError(error) ? error.code : 'thrown' }),
      );
      return;
    case 'status':
      reply({ leading: session.isLeader });
      return;
    case 'close':
      void session.close().then(() => {
        if (request.id >= 0) reply({});
        process.disconnect();
      });
      return;
  }
});

send({ event: 'ready' });
