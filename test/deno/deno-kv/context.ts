import { clientCredentials, createSession, refreshTokenGrant, type Session } from 'shared-session';
import { denoKvSharing } from 'shared-session/deno-kv';
import { type Command, type FetchedToken, type KvAnswer, type KvConfig, sleep } from './protocol.ts';

/** One context's session on the shared KV file, and what it saw: the main module and each worker run one. */
export class KvContext {
  readonly session: Session;
  readonly #kv: Deno.Kv;
  readonly #config: KvConfig;
  readonly #tokens = new Set<string>();
  readonly #apiStatuses: number[] = [];
  readonly #failures: string[] = [];
  readonly #cleared: { origin: string; at: number }[] = [];
  readonly #errors: string[] = [];
  #authenticated = 0;
  readonly #fetched: FetchedToken[] = [];
  #lastCall: number | undefined;
  readonly #refused: KvAnswer['refused'][number][] = [];
  /** When each token was last handed out, and its expiry: what a refused API call is judged by. */
  readonly #handed = new Map<string, { at: number; expiresAt: number }>();

  static async open(config: KvConfig): Promise<KvContext> {
    return new KvContext(config, await Deno.openKv(config.kvPath));
  }

  private constructor(config: KvConfig, kv: Deno.Kv) {
    this.#config = config;
    this.#kv = kv;
    const { tokenUrl, clientId, clientSecret, refreshToken, requestTimeout } = config;
    const endpoint = { tokenUrl, clientId, clientSecret, ...(requestTimeout === undefined ? {} : { timeout: requestTimeout }) };
    const provider = refreshToken === undefined ? clientCredentials(endpoint) : refreshTokenGrant({ ...endpoint, refreshToken });
    const sharing = denoKvSharing({
      kv,
      prefix: ['deno-kv-test'],
      ...(config.pollInterval === undefined ? {} : { pollInterval: config.pollInterval }),
      ...(config.leaseTime === undefined ? {} : { leaseTime: config.leaseTime }),
    });
    this.session = createSession({
      provider,
      sharing,
      ...(config.refreshBeforeExpiry === undefined ? {} : { refreshBeforeExpiry: config.refreshBeforeExpiry }),
    });
    this.session.on('authenticated', ({ accessToken, issuedAt, expiresAt }) => {
      this.#authenticated++;
      this.#fetched.push({ accessToken, issuedAt, expiresAt });
    });
    this.session.on('cleared', (origin) => this.#cleared.push({ origin, at: Date.now() }));
    this.session.on('error', (error) => this.#errors.push(error.code));
  }

  async run(command: Command): Promise<KvAnswer> {
    switch (command.type) {
      case 'burst': {
        const tokens = await Promise.all(Array.from({ length: command.count }, () => this.#getToken()));
        const token = tokens.find((each) => each !== undefined);
        if (token !== undefined) await this.#callApi(token);
        break;
      }
      case 'loop': {
        while (Date.now() < command.until) {
          this.#lastCall = Date.now();
          const token = await this.#getToken();
          if (token !== undefined) await this.#callApi(token);
          await sleep(command.every);
        }
        break;
      }
      case 'clear':
        await this.session.clear();
        break;
      case 'cleared': {
        const end = Date.now() + command.timeout;
        while (this.#cleared.length === 0 && Date.now() < end) await sleep(10);
        break;
      }
      case 'close':
        // No timer can fire between the token request's end and the close: both run in this one task.
        if (command.settle === true) await this.session.getToken().catch(() => undefined);
        await this.session.close();
        this.#kv.close();
        break;
      default:
        break;
    }
    return this.answer();
  }

  answer(): KvAnswer {
    return {
      tokens: [...this.#tokens],
      // Copies: the main module's answer is read after later commands ran.
      apiStatuses: [...this.#apiStatuses],
      failures: [...this.#failures],
      authenticated: this.#authenticated,
      cleared: [...this.#cleared],
      errors: [...this.#errors],
      fetched: [...this.#fetched],
      ...(this.#lastCall === undefined ? {} : { lastCall: this.#lastCall }),
      refused: [...this.#refused],
    };
  }

  async #getToken(): Promise<string | undefined> {
    try {
      const { accessToken, expiresAt } = await this.session.getToken();
      this.#tokens.add(accessToken);
      this.#handed.set(accessToken, { at: Date.now(), expiresAt });
      return accessToken;
    } catch (error) {
      this.#failures.push((error as { code?: string }).code ?? String(error));
      return undefined;
    }
  }

  async #callApi(accessToken: string): Promise<void> {
    const response = await fetch(this.#config.apiUrl, { headers: { authorization: `Bearer ${accessToken}` } });
    await response.body?.cancel();
    this.#apiStatuses.push(response.status);
    const handed = this.#handed.get(accessToken);
    if (response.status !== 200 && handed !== undefined) {
      this.#refused.push({ status: response.status, handedAt: handed.at, expiresAt: handed.expiresAt, at: Date.now() });
    }
  }
}
