// Piscina's worker threads do not run the parent's loaders: register tsx, then hand piscina the TypeScript task.
import { register } from 'tsx/esm/api';

register();
const task = await import('./thread-pool-task.ts');
export default task.default;
