// Helpers of the container tests: find the Docker engine and a compose
// implementation (the v2 plugin, or Debian's docker-compose 1.29), pick free
// host ports, address the containers of a compose project by service name,
// and wait for conditions with a deadline.
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { StartedDockerComposeEnvironment, StartedTestContainer } from 'testcontainers';

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * The engine's version; throws (so the suite fails, it is never skipped) when
 * no engine answers, saying how to get one.
 */
export function requireDockerEngine(): string {
  const r = run('docker', ['version', '--format', '{{.Server.Version}}']);
  if (!r.ok) {
    throw new Error(
      `No Docker engine is reachable (DOCKER_HOST=${process.env.DOCKER_HOST ?? 'unset'}): ${r.out.split('\n').pop()}\n` +
        'Run the container tests with `pnpm test:docker`, which starts one with deploy/start-docker.sh, or start Docker yourself.',
    );
  }
  return r.out;
}

/** Throws when the image is missing, naming the script that builds it. */
export function requireImage(image: string): void {
  const r = run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
  if (!r.ok) {
    throw new Error(
      `The image ${image} does not exist. Build it with deploy/build-base-image.sh (\`pnpm test:docker\` does).`,
    );
  }
}

/** testcontainers' compose client options: the v2 plugin if present, else the standalone docker-compose. */
export function composeExecutable(): { executable?: { standalone: true; executablePath: string } } {
  if (run('docker', ['compose', 'version']).ok) return {};
  if (run('docker-compose', ['version']).ok)
    return { executable: { standalone: true, executablePath: 'docker-compose' } };
  throw new Error('Neither `docker compose` nor `docker-compose` is installed (deploy/start-docker.sh installs one).');
}

/** `n` distinct TCP ports free on 127.0.0.1 right now. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

/**
 * A service's container. testcontainers keys them by container name less
 * `<project>-`: compose v2 names them `<project>-<service>-1`, v1
 * `<project>_<service>_1` (kept whole).
 */
export function service(env: StartedDockerComposeEnvironment, project: string, name: string): StartedTestContainer {
  for (const candidate of [`${name}-1`, `${project}_${name}_1`]) {
    try {
      return env.getContainer(candidate);
    } catch {
      // try the other naming scheme
    }
  }
  throw new Error(`no container for service ${name}`);
}

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 }).trim();
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs` with the last state. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  intervalMs = 250,
): Promise<{ value: T; elapsedMs: number }> {
  const start = Date.now();
  let last: unknown = 'not checked yet';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return { value, elapsedMs: Date.now() - start };
      last = 'condition not met';
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
