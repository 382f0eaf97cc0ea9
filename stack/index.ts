/**
 * The stack toolkit: provisions PostgreSQL (embedded when none answers, also as root), Redis and Temporal (CLI found
 * or built, dev server), spawns our entry points with an environment, waits for readiness and stops in order. The
 * dev launcher (`npm start`), the test setup, bench, chaos and `npm run test:cluster` are callers of this module;
 * ./services.ts holds the services each of them gives, finds or starts for a run.
 */
export * from './app';
export * from './ready';
export * from './process';
export * from './postgres';
export { PostgresSetupError, ROOT_POSTGRES_HOME } from './postgres-root';
export * from './redis';
export * from './services';
export * from './temporal';
export * from './tools';
