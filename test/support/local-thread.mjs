// Worker threads do not run the parent's `--import tsx`: register tsx here, then run the TypeScript thread.
import { register } from 'tsx/esm/api';

register();
await import('./local-thread.ts');
