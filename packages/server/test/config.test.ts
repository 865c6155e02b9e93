import { isRaftkaError } from '@raftka/common';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, configTableMarkdown, loadRawConfig, parseProperties, resolveConfig } from '../src/config.js';

const base = [
  'node.id=1',
  'process.roles=controller',
  'controller.quorum.voters=1@127.0.0.1:19091,2@127.0.0.1:19092,3@127.0.0.1:19093',
  'metadata.log.dir=/tmp/raftka-1',
];

function resolve(lines: string[]) {
  return resolveConfig(loadRawConfig(lines.join('\n'), 'test.properties', []));
}

function problemsOf(lines: string[]): string {
  try {
    resolve(lines);
  } catch (e) {
    expect(isRaftkaError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('node configuration', () => {
  it("applies Kafka's defaults", () => {
    const c = resolve(base);
    expect(c.nodeId).toBe(1);
    expect(c.roles).toEqual(['controller']);
    expect(c.voters).toHaveLength(3);
    expect(c.listenPort).toBe(19091);
    expect(c.electionTimeoutMs).toBe(1000);
    expect(c.fetchTimeoutMs).toBe(2000);
    expect(c.appendLingerMs).toBe(25);
    expect(c.snapshotMaxBytesBetween).toBe(20 * 1024 * 1024);
    expect(c.metricsPort).toBeNull();
  });

  it('lets overrides win over the file', () => {
    const raw = loadRawConfig(base.join('\n'), 'f', ['controller.quorum.fetch.timeout.ms=4000', 'node.id=2']);
    const c = resolveConfig(raw);
    expect(c.fetchTimeoutMs).toBe(4000);
    expect(c.nodeId).toBe(2);
    expect(c.listenPort).toBe(19092);
  });

  it('lists every problem at once', () => {
    const msg = problemsOf(['node.id=x', 'process.roles=controller,zookeeper', 'bogus.key=1']);
    expect(msg).toContain('node.id=x: not an integer');
    expect(msg).toContain('unknown role "zookeeper"');
    expect(msg).toContain('unknown key "bogus.key"');
    expect(msg).toContain('controller.quorum.voters is required');
    expect(msg).toContain('metadata.log.dir is required');
  });

  it('refuses malformed voters and out-of-range values', () => {
    expect(problemsOf([...base, 'controller.quorum.voters=1@host'])).toContain('is not id@host:port');
    expect(problemsOf([...base, 'controller.quorum.voters=1@a:1,1@b:2'])).toContain('a node id appears twice');
    expect(problemsOf([...base, 'controller.quorum.election.timeout.ms=-5'])).toContain('must be at least 10');
    expect(problemsOf([...base, 'log.level=loud'])).toContain('must be one of');
  });

  it('refuses a controller outside the voter set', () => {
    expect(problemsOf([...base.slice(1), 'node.id=7'])).toContain('not in controller.quorum.voters');
  });

  it('keeps the long poll below half the fetch timeout', () => {
    expect(problemsOf([...base, 'controller.quorum.fetch.max.wait.ms=1500'])).toContain('at most half');
  });

  it('parses properties with comments and colons', () => {
    const m = parseProperties('# c\n! c\na=1\nb: two\n  c = 3  \n', 'x');
    expect([...m.entries()]).toEqual([
      ['a', '1'],
      ['b', 'two'],
      ['c', '3'],
    ]);
    expect(() => parseProperties('novalue', 'x.properties')).toThrow('x.properties:1');
  });

  it('documents every key in docs/configuration.md', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    for (const key of CONFIG_SCHEMA) expect(doc).toContain(`\`${key.name}\``);
    expect(doc).toContain(configTableMarkdown());
  });
});
