// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

// What code that workflows import may not import: Node's modules, I/O clients, the Temporal packages of
// the other side. Shared by the rules for src/workflows and src/shared.
const NODE_MODULES = [
  'node:*',
  'fs',
  'path',
  'http',
  'https',
  'crypto',
  'os',
  'child_process',
  'zlib',
  'util',
];
const IO_CLIENTS = ['@aws-sdk/*', 'fastify', 'better-sqlite3', 'pino', 'opossum', 'prom-client'];
const TEMPORAL_OTHER_SIDE = ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'];

export default tseslint.config(
  { ignores: ['lib/**', 'node_modules/**', '.stack/**', 'coverage/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node APIs, no I/O clients.
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: NODE_MODULES,
              message: 'workflows must stay deterministic',
            },
            {
              group: IO_CLIENTS,
              message: 'side effects belong in activities',
            },
            {
              group: TEMPORAL_OTHER_SIDE,
              message: 'workflows import only @temporalio/workflow',
            },
            {
              group: ['../activities/*', '../config/*', '../stack/*'],
              message: 'workflows import only shared types (use proxyActivities with type imports)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // src/shared holds only what a workflow may import: the same rules as workflows, and nothing from the
    // Node-side components except types.
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: NODE_MODULES,
              message:
                'src/shared is imported by workflows: no Node APIs (put Node-only code with its component)',
            },
            {
              group: IO_CLIENTS,
              message: 'src/shared is imported by workflows: no I/O clients',
            },
            {
              group: TEMPORAL_OTHER_SIDE,
              message:
                'src/shared is imported by workflows: only @temporalio/workflow and @temporalio/common',
            },
            {
              group: ['../*', '!../shared'],
              message: 'src/shared imports only other shared modules (type imports excepted)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // jest's asymmetric matchers (expect.any, expect.stringMatching) are typed `any` by design.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  { files: ['**/*.mjs', '**/*.js'], ...tseslint.configs.disableTypeChecked },
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } } },
  prettier,
);
