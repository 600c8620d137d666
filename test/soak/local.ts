import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { leaderOf, type LocalProcess, startProcesses, stopProcesses } from '../support/local-fleet.js';
import type { SoakReport } from './report.js';
import { MARGIN, nextFetching, soakProcesses } from './processes.js';

// The local-sharing soak: 4 processes of one machine share one session over a Unix socket while the schedule
// SIGKILLs the leader, now idle, now in the middle of its token request; a new process replaces each one killed.

const KINDS = { 'kill-leader': 1, 'kill-leader-mid-fetch': 1 } as const;

export async function soakLocal(options: { seed: number; duration: number; log: (line: string) => void }): Promise<SoakReport> {
  const dir = mkdtempSync(path.join(tmpdir(), 'shared-session-soak-'));
  try {
    return await soakProcesses({
      ...options,
      transport: 'local sharing: 4 processes',
      count: 4,
      kinds: KINDS,
      gap: 2_500,
      async start(tokens, client) {
        const config = {
          tokenUrl: tokens.tokenUrl,
          apiUrl: tokens.apiUrl,
          clientId: client.id,
          clientSecret: client.secret,
          dir,
          refreshBeforeExpiry: MARGIN,
        };
        const members: LocalProcess[] = await startProcesses(4, config);
        return {
          members: members as never,
          async add() {
            const [member] = await startProcesses(1, config);
            members.push(member!);
            return member as never;
          },
        };
      },
      async inject(kind, context) {
        const now = Date.now();
        const members = context.fleet.members as unknown as LocalProcess[];
        const victim = kind === 'kill-leader' ? (await leaderOf(members))[0] : ((await nextFetching(context.fleet.members, 4_000)) as LocalProcess | undefined);
        if (victim === undefined) {
          context.note(`${kind}: no leader (or no token request within 4 s), nothing done`);
          return;
        }
        victim.kill('SIGKILL');
        members.splice(members.indexOf(victim), 1);
        await context.fleet.add();
        context.explainRequests(now, Date.now() + 2_000);
      },
      async stop(fleet) {
        await stopProcesses(fleet.members as never);
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
