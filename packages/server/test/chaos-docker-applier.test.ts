// The docker applier's commands, against a fake `docker` on PATH that logs
// its arguments and answers `compose ps -q` and `inspect` like the real one:
// which compose verbs and network/nsenter commands each fault becomes.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerApplier, Firewall } from '../src/chaos/nemesis.js';

describe('DockerApplier', () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftka-fake-docker-'));
  const logFile = join(dir, 'calls.log');
  const savedPath = process.env.PATH;

  beforeAll(() => {
    for (const tool of ['docker', 'nsenter']) {
      writeFileSync(
        join(dir, tool),
        `#!/bin/sh
# Read stdin to the end as the real tools do (nft -f - gets its rules there), or the writer gets EPIPE.
cat > /dev/null
echo "${tool} $*" >> "${logFile}"
case "$*" in
  *"ps -q"*) echo "cid-$(echo "$*" | awk '{print $NF}')" ;;
  *"State.Pid"*) echo 4242 ;;
  *IPAddress*) echo 10.126.0.22 ;;
esac
exit 0
`,
      );
      chmodSync(join(dir, tool), 0o755);
    }
    process.env.PATH = `${dir}:${savedPath}`;
  });
  afterAll(() => {
    process.env.PATH = savedPath;
  });

  const calls = () =>
    readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => !l.includes('ps -q') && !l.includes('inspect'));

  it('maps faults to compose kill/start/pause/unpause, network disconnect and nsenter cuts', async () => {
    writeFileSync(logFile, '');
    const a = new DockerApplier({
      project: 'rk',
      composeCommand: ['docker', 'compose'],
      controllerIds: [1, 2, 3],
      brokerIds: [101, 102, 103],
      network: 'rk_raftka',
      activeController: async () => 2,
      firewall: new Firewall('nft'),
    });
    expect(a.supports('kill-controller')).toBe(true);
    expect(a.supports('isolate-broker')).toBe(true);
    await a.kill(101);
    await a.start(101);
    await a.pause(2);
    await a.resume(2);
    await a.isolate(103);
    await a.cut(102, 101);
    await a.healNetwork();
    expect(calls()).toEqual([
      'docker compose -p rk kill -s SIGKILL broker-101',
      'docker compose -p rk start broker-101',
      'docker compose -p rk pause controller-2',
      'docker compose -p rk unpause controller-2',
      'docker network disconnect rk_raftka cid-broker-103',
      'nsenter -t 4242 -n nft -f -',
      'docker network connect --ip 10.126.0.22 --alias broker-103 rk_raftka cid-broker-103',
      'nsenter -t 4242 -n nft delete table inet raftka_chaos',
    ]);
    expect(await a.activeController()).toBe(2);
  });

  it('without a way to find the active controller, leaves controller faults out', () => {
    const a = new DockerApplier({
      project: 'rk',
      composeCommand: ['docker-compose'],
      controllerIds: [1],
      brokerIds: [101],
    });
    expect(a.supports('kill-controller')).toBe(false);
    expect(a.supports('pause-controller')).toBe(false);
    expect(a.supports('kill-broker')).toBe(true);
  });
});
