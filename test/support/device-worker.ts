// The commands and events of device-worker.mjs: one process of the device sign-in tests, running the built package
// (no tsx: eight of them start in a few seconds on a loaded machine), configured by DEVICE_WORKER (JSON), driven over
// IPC. It tells the test every prompt it shows (so the test can approve it as a person) and every sign-out.

export interface DeviceConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly file: string;
  readonly dir: string;
}

export type DeviceRequest =
  | { id: number; cmd: 'signIn' }
  | { id: number; cmd: 'getToken'; forceRefresh?: boolean }
  | { id: number; cmd: 'signOut' }
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'close' };

export type DeviceEvent =
  | { event: 'ready' }
  | { event: 'prompt'; verificationUri: string; userCode: string }
  | { event: 'cleared'; origin: string }
  | { event: 'error'; code: string; message: string };

/** The answer to `signIn` and `getToken`. */
export type DeviceAnswer = { accessToken: string } | { code: string; message: string };

