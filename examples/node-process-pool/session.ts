// How every process of this job gets its token: its own session object, but one token for every process of this user
// on this machine.
import { clientCredentials, createSession, type Session } from 'shared-session';
import { localSharing } from 'shared-session/node';

export function openSession(): Session {
  return createSession({
    provider: clientCredentials({
      tokenUrl: process.env.TOKEN_URL ?? '',
      clientId: process.env.CLIENT_ID ?? '',
      clientSecret: process.env.CLIENT_SECRET ?? '',
    }),
    sharing: localSharing(), // whichever process asks first fetches; the others get its token over a Unix socket
  });
}
