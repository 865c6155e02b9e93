import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA, configTableMarkdown, validateConfigValue } from '../src/index.js';

describe('config schema', () => {
  it('validates its own defaults', () => {
    for (const key of CONFIG_SCHEMA) {
      for (const scope of key.scopes)
        expect(validateConfigValue(scope, key.name, key.defaultValue)).toBe(key.defaultValue);
    }
  });

  it('normalises values', () => {
    expect(validateConfigValue('topic', 'unclean.leader.election.enable', ' TRUE ')).toBe('true');
    expect(validateConfigValue('topic', 'cleanup.policy', 'compact , delete,compact')).toBe('compact,delete');
    expect(validateConfigValue('topic', 'retention.ms', '007')).toBe('7');
  });

  it('is documented in docs/metadata.md, table unchanged', () => {
    const doc = readFileSync(new URL('../../../docs/metadata.md', import.meta.url), 'utf8');
    const between = doc.split('<!-- config-table:start -->')[1]?.split('<!-- config-table:end -->')[0]?.trim();
    expect(between).toBe(configTableMarkdown());
  });
});
