// Architecture rules that a reviewer would otherwise have to remember:
// pure protocol cores do no IO and read neither the clock nor Math.random,
// and workspace dependencies point one way (server -> drivers -> cores ->
// common). Each rule is checked on the source text, so breaking one fails
// `pnpm test` with the file and line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;
const packagesDir = join(root, 'packages');

/** Packages that must stay sans-IO and deterministic. */
const CORE = ['common', 'raft', 'sim', 'metadata', 'replication'];
const BANNED_IMPORTS = [
  /^node:fs/,
  /^fs($|\/)/,
  /^node:net$/,
  /^net$/,
  /^@grpc\//,
  /^level$/,
  /^pino/,
  /^prom-client$/,
];
const BANNED_CALLS = [/\bDate\.now\(/, /\bMath\.random\(/, /\bperformance\.now\(/, /\bsetTimeout\(/, /\bsetInterval\(/];

/** Layer of each package; a package may depend only on lower layers. */
const LAYER: Record<string, number> = {
  common: 0,
  codec: 1,
  raft: 1,
  metadata: 2,
  replication: 2,
  log: 2,
  sim: 3,
  storage: 3,
  transport: 3,
  observability: 3,
  client: 4,
  controller: 4,
  broker: 5,
  server: 6,
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const packages = readdirSync(packagesDir).filter((p) => statSync(join(packagesDir, p)).isDirectory());

describe('architecture boundaries', () => {
  it('knows the layer of every package', () => {
    expect(packages.filter((p) => LAYER[p] === undefined)).toEqual([]);
  });

  it('core packages import no IO library', () => {
    const violations: string[] = [];
    for (const pkg of packages.filter((p) => CORE.includes(p))) {
      for (const file of sourceFiles(join(packagesDir, pkg, 'src'))) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            const spec = /\bfrom\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/.exec(line);
            const name = spec?.[1] ?? spec?.[2];
            if (name && BANNED_IMPORTS.some((re) => re.test(name))) violations.push(`${file}:${i + 1}: ${name}`);
          });
      }
    }
    expect(violations).toEqual([]);
  });

  it('core packages read neither the clock nor Math.random', () => {
    const violations: string[] = [];
    for (const pkg of packages.filter((p) => CORE.includes(p) && p !== 'common')) {
      for (const file of sourceFiles(join(packagesDir, pkg, 'src'))) {
        readFileSync(file, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            // Comments may name what the code must not call.
            const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
            if (BANNED_CALLS.some((re) => re.test(code))) violations.push(`${file}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(violations).toEqual([]);
  });

  it('workspace dependencies point down the layers', () => {
    const violations: string[] = [];
    for (const pkg of packages) {
      const manifest = JSON.parse(readFileSync(join(packagesDir, pkg, 'package.json'), 'utf8'));
      for (const dep of Object.keys(manifest.dependencies ?? {})) {
        if (!dep.startsWith('@raftka/')) continue;
        const target = dep.slice('@raftka/'.length);
        if ((LAYER[target] ?? 99) >= (LAYER[pkg] ?? -1)) violations.push(`${pkg} -> ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
