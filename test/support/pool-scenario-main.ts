// The entry a test forks (through tsx) for one process of the pool scenario.
import { runPoolChild } from './pool-scenario-child.js';

runPoolChild();
