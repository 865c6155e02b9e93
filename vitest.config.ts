// One vitest run for the whole workspace. Unit tests import the packages'
// TypeScript sources through the alias below, so they need no build; the
// multi-process tests under tests/ spawn the compiled CLI, which is why
// `pnpm test` runs `tsc -b` first.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const alias = Object.fromEntries(
  readdirSync(packagesDir).map((name) => [`@raftka/${name}`, `${packagesDir}${name}/src/index.ts`]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'tests/**/*.test.ts'],
    // The container tests need a Docker engine and an image: `pnpm test:docker` (tests/docker/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'tests/docker/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
