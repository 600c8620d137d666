import { KvContext } from './context.ts';
import type { Command, KvAnswer } from './protocol.ts';

// A Deno worker with its own session (and its own KV connection) for the same credential.
interface WorkerScope {
  onmessage: ((event: MessageEvent<Command>) => void) | null;
  postMessage(answer: KvAnswer | { readonly ready: true }): void;
}
const scope = globalThis as unknown as WorkerScope;
let context: KvContext | undefined;

scope.onmessage = ({ data: command }) => {
  if (command.type === 'start') {
    void KvContext.open(command.config).then((opened) => {
      context = opened;
      scope.postMessage({ ready: true });
    });
    return;
  }
  void context!.run(command).then((answer) => scope.postMessage(answer));
};
