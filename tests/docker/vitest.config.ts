// vitest config of the container tests (`pnpm test:docker`), kept apart from
// the root config, which excludes tests/docker: these need a Docker engine
// and the raftka image, and take minutes. Same @raftka/* aliases as the root
// config (the tests import the client from its sources).
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('../../', import.meta.url));
const packagesDir = `${root}packages/`;
const alias = Object.fromEntries(
  readdirSync(packagesDir).map((name) => [`@raftka/${name}`, `${packagesDir}${name}/src/index.ts`]),
);

export default defineConfig({
  root,
  resolve: { alias },
  test: {
    include: ['tests/docker/**/*.test.ts'],
    // One compose cluster at a time: they would compete for the two cores.
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 300_000,
    pool: 'forks',
    env: {
      // Ryuk (testcontainers' reaper container) cannot be pulled without a
      // registry; afterAll takes the compose project down itself.
      TESTCONTAINERS_RYUK_DISABLED: process.env.TESTCONTAINERS_RYUK_DISABLED ?? 'true',
    },
    reporters: ['default'],
  },
});
