/** Jest: TypeScript through SWC (no type-check here; `npm run typecheck` does that), real services via globalSetup. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.m?(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // The stack toolkit's ESM-only packages (stack/), compiled to CommonJS like our own code.
  transformIgnorePatterns: ['/node_modules/(?!(tinyexec|get-port)/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  slowTestThreshold: 20,
  // Workflow bundles and replays are CPU heavy: run files one at a time so timings stay sane on 2 cores.
  maxWorkers: 1,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
