import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * The processes descending from `root` whose command line matches `matches` (a browser's content or web processes:
 * Firefox's are children of its fork server, WebKit's of the MiniBrowser that WebKitWebDriver started).
 */
export function descendants(root: number, matches: (args: readonly string[]) => boolean): Set<number> {
  const children = new Map<number, Array<{ pid: number; args: string[] }>>();
  for (const line of execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).split('\n')) {
    const [pid, ppid, ...args] = line.trim().split(/\s+/);
    if (pid === undefined || ppid === undefined || pid === '') continue;
    const siblings = children.get(Number(ppid)) ?? [];
    siblings.push({ pid: Number(pid), args });
    children.set(Number(ppid), siblings);
  }
  const found = new Set<number>();
  const visit = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      if (matches(child.args)) found.add(child.pid);
      visit(child.pid);
    }
  };
  visit(root);
  return found;
}

/** The one process in `after` that is not in `before`, or undefined when there is not exactly one. */
export function appeared(before: ReadonlySet<number>, after: ReadonlySet<number>): number | undefined {
  const fresh = [...after].filter((pid) => !before.has(pid));
  return fresh.length === 1 ? fresh[0] : undefined;
}

/** The names of process `pid`'s threads (Linux `/proc`): empty once it is gone. */
export function threadNames(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((thread) => {
      try {
        return [readFileSync(`/proc/${pid}/task/${thread}/comm`, 'utf8').trim()];
      } catch {
        return []; // the thread ended meanwhile
      }
    });
  } catch {
    return [];
  }
}
