// Datadriven scenarios in the manner of etcd/raft's interaction tests: each
// testdata/*.txt is a script of commands; its transcript (messages, role
// changes, status) must equal testdata/golden/<name>.txt. Refresh the goldens
// with `npx vitest run packages/raft -u` and read the diff before committing.
// Scripts also carry `expect` lines, so a scenario fails on its own terms even
// when its golden file is regenerated.

import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScript } from './harness.js';

const testdata = fileURLToPath(new URL('../testdata/', import.meta.url));
const scripts = readdirSync(testdata)
  .filter((f) => f.endsWith('.txt'))
  .sort();

describe('datadriven scenarios', () => {
  it('has scenarios', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(6);
  });
  for (const file of scripts) {
    it(file, async () => {
      const transcript = runScript(readFileSync(`${testdata}${file}`, 'utf8'));
      await expect(transcript).toMatchFileSnapshot(`../testdata/golden/${file}`);
    });
  }
});
