import { defaultDirectory } from './directory.js';

/** The part of Deno's permissions API this reads (nothing of it exists in Node). */
interface DenoPermissions {
  querySync(descriptor: { name: string; path?: string; variable?: string; kind?: string }): { state: string };
}

/**
 * In Deno: the permission `localSharing` lacks, named with the flag that grants it, or undefined when it has them
 * all (and always in Node). Checked up front because Deno refuses the socket's system calls one by one, each with
 * a different error, and a process that can bind but not read would lead alone without saying why. It needs:
 * `--allow-env` (XDG_RUNTIME_DIR, TMPDIR) unless `dir` is set, `--allow-sys=uid` (the directory's owner is checked),
 * `--allow-read` and `--allow-write` on the directory (the Unix socket is bound and connected to there), and
 * `--allow-net` without a host list (Deno 2 asks net access for each Unix socket path, `unix:<path>`, and a leader
 * binds a random temporary name before linking its socket into place, which no list can name in advance).
 */
export function permissionProblem(dir: string | undefined): string | undefined {
  const permissions = (globalThis as { Deno?: { permissions?: DenoPermissions } }).Deno?.permissions;
  if (permissions?.querySync === undefined) return undefined;
  const granted = (descriptor: Parameters<DenoPermissions['querySync']>[0]): boolean => {
    try {
      return permissions.querySync(descriptor).state === 'granted';
    } catch {
      return false;
    }
  };
  if (dir === undefined) {
    for (const variable of ['XDG_RUNTIME_DIR', 'TMPDIR', 'TMP', 'TEMP']) {
      if (!granted({ name: 'env', variable })) return `Deno's --allow-env permission is missing (${variable}, for the default directory; or set \`dir\`)`;
    }
  }
  if (!granted({ name: 'net' })) return "Deno's --allow-net permission is missing (Deno asks it for Unix sockets; a host list cannot name the leader's temporary socket)";
  if (!granted({ name: 'sys', kind: 'uid' })) return "Deno's --allow-sys=uid permission is missing (the directory's owner is checked)";
  const where = dir ?? defaultDirectory();
  for (const name of ['read', 'write']) {
    if (!granted({ name, path: where })) return `Deno's --allow-${name} permission is missing for ${where} (the socket lives there)`;
  }
  return undefined;
}
