// A process that persists Readys is SIGKILLed at a random point; the
// reopened storage must hold a dense log containing everything that was
// reported durable, with the epoch that was reported, and nothing torn.
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { RaftStorage } from '../src/index.js';

describe('SIGKILL while persisting', () => {
  const packageDir = fileURLToPath(new URL('..', import.meta.url));
  const repoRoot = join(packageDir, '..', '..');

  beforeAll(() => {
    // The child runs the compiled package: build it (incremental, fast when up to date).
    execFileSync('npx', ['tsc', '-b', 'packages/storage'], { cwd: repoRoot, stdio: 'pipe' });
  }, 120_000);

  it('recovers everything reported durable, densely', async () => {
    for (let run = 0; run < 3; run++) {
      const seed = Number(process.env.STORAGE_SEED ?? Date.now() % 1_000_000) + run;
      console.log('storage sigkill seed=', seed);
      const dir = mkdtempSync(join(tmpdir(), 'raftka-storage-crash-'));
      try {
        const child = fork(join(packageDir, 'test', 'fixtures', 'persist-child.mjs'), [dir, String(seed)], {
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        });
        const killAfter = 20 + (seed % 50);
        let durable = { end: 0, epoch: 0 };
        let reports = 0;
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          child.on('exit', (_c, signal) => resolve(signal)),
        );
        await new Promise<void>((resolve) => {
          child.on('message', (m: { end: number; epoch: number }) => {
            durable = m;
            reports++;
            if (reports === killAfter) {
              child.kill('SIGKILL');
              resolve();
            }
          });
        });
        expect(await exited).toBe('SIGKILL');

        const storage = await RaftStorage.open(dir, { clusterId: 'crash', nodeId: 1 });
        const state = await storage.load();
        await storage.close();
        expect(state.entries.length).toBeGreaterThanOrEqual(durable.end);
        expect(state.quorumState.epoch).toBeGreaterThanOrEqual(durable.epoch);
        state.entries.forEach((entry, i) => {
          expect(entry.offset).toBe(i);
          expect(new TextDecoder().decode(entry.data)).toBe(`r${i}`);
          expect(entry.epoch).toBeLessThanOrEqual(state.quorumState.epoch);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
