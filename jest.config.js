/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Every test file talks to the one local stack started by scripts/test.sh; 2 cores do not gain from more.
  maxWorkers: 2,
  testTimeout: 60_000,
  setupFiles: ['<rootDir>/test/setup.ts'],
};
