import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Integration tests start real gateways on port 0; forks keep each file's sockets and timers apart.
    pool: 'forks',
  },
});
