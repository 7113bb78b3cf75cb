import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30000,
    hookTimeout: 120000,
    // Each file in its own process: lifecycle tests fork, native state is per process.
    pool: 'forks',
  },
});
