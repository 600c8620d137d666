// A worker of test/deno/message-election/main.ts: Web Locks hidden too, one session, one call; answers with its token.
Object.defineProperty(Object.getPrototypeOf(navigator), 'locks', { get: () => undefined, configurable: true });
const { clientCredentials, createSession } = await import('shared-session');

self.onmessage = async (event: MessageEvent<{ tokenUrl: string; clientId: string; clientSecret: string }>) => {
  const session = createSession({ provider: clientCredentials(event.data) });
  const started = Date.now();
  const token = await session.getToken();
  self.postMessage({ token: token.accessToken, ms: Date.now() - started, leader: session.isLeader });
};
