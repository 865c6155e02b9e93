import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureMetaProperties } from '../src/meta-properties.js';

describe('meta.properties', () => {
  it('is created once and then verified', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftka-meta-'));
    expect(ensureMetaProperties(dir, 'c1', 1)).toBe('created');
    expect(ensureMetaProperties(dir, 'c1', 1)).toBe('verified');
  });
  it("refuses another cluster's or another node's directory", () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftka-meta-'));
    ensureMetaProperties(dir, 'c1', 1);
    expect(() => ensureMetaProperties(dir, 'c2', 1)).toThrow(/belongs to cluster "c1"/);
    expect(() => ensureMetaProperties(dir, 'c1', 2)).toThrow(/belongs to node 1/);
  });
  it('refuses an unknown format version', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftka-meta-'));
    writeFileSync(join(dir, 'meta.properties'), 'version=9\ncluster.id=c1\nnode.id=1\n');
    expect(() => ensureMetaProperties(dir, 'c1', 1)).toThrow(/unsupported version 9/);
  });
});
