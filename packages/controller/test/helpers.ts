// Shared helpers for the multi-node controller tests: free ports, a small
// cluster of controller nodes in this process, and polling.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type LogLevel } from '@raftka/observability';
import { DEFAULT_RAFT_CONFIG } from '@raftka/raft';
import {
  type ControllerNode,
  type ControllerNodeConfig,
  KeyValueStateMachine,
  startControllerNode,
  type VoterEndpoint,
} from '../src/index.js';

/** Small timeouts for tests only: elections in a few hundred ms. */
export const TEST_RAFT = {
  ...DEFAULT_RAFT_CONFIG,
  electionTimeoutMs: 200,
  electionBackoffMaxMs: 200,
  fetchTimeoutMs: 400,
  requestTimeoutMs: 300,
  fetchMaxWaitMs: 100,
  fetchMaxBytes: 1024 * 1024,
  snapshotChunkBytes: 16 * 1024,
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class TestCluster {
  readonly clusterId = 'controller-test';
  readonly voters: VoterEndpoint[];
  readonly nodes = new Map<number, ControllerNode>();
  readonly #dirs: Map<number, string>;
  readonly #overrides: Partial<ControllerNodeConfig>;

  private constructor(voters: VoterEndpoint[], dirs: Map<number, string>, overrides: Partial<ControllerNodeConfig>) {
    this.voters = voters;
    this.#dirs = dirs;
    this.#overrides = overrides;
  }

  static async create(size: number, overrides: Partial<ControllerNodeConfig> = {}): Promise<TestCluster> {
    const voters: VoterEndpoint[] = [];
    const dirs = new Map<number, string>();
    for (let id = 1; id <= size; id++) {
      voters.push({ nodeId: id, host: '127.0.0.1', port: await freePort() });
      dirs.set(id, await mkdtemp(join(tmpdir(), `raftka-controller-${id}-`)));
    }
    return new TestCluster(voters, dirs, overrides);
  }

  dirOf(nodeId: number): string {
    return this.#dirs.get(nodeId) as string;
  }

  get endpoints(): string[] {
    return this.voters.map((v) => `${v.host}:${v.port}`);
  }

  async start(nodeId: number): Promise<ControllerNode> {
    const voter = this.voters.find((v) => v.nodeId === nodeId);
    if (!voter) throw new Error(`no voter ${nodeId}`);
    const level = (process.env.RAFTKA_TEST_LOG ?? 'silent') as LogLevel;
    const node = await startControllerNode(
      {
        nodeId,
        clusterId: this.clusterId,
        voters: this.voters,
        listenHost: voter.host,
        listenPort: voter.port,
        metadataLogDir: this.#dirs.get(nodeId) as string,
        metricsPort: null,
        raft: TEST_RAFT,
        appendLingerMs: 2,
        snapshotMaxBytesBetween: 20 * 1024 * 1024,
        logger: createLogger({ nodeId, role: 'controller', level }),
        ...this.#overrides,
      },
      // The control-plane tests ask for the metadata machine; the quorum tests use the key-value one.
      this.#overrides.stateMachine === 'metadata' ? undefined : new KeyValueStateMachine(),
    );
    this.nodes.set(nodeId, node);
    return node;
  }

  async startAll(): Promise<void> {
    await Promise.all(this.voters.map((v) => this.start(v.nodeId)));
  }

  async stop(nodeId: number): Promise<void> {
    const node = this.nodes.get(nodeId);
    this.nodes.delete(nodeId);
    await node?.shutdown();
  }

  /** The single leader every running node agrees on. */
  async waitForLeader(timeoutMs = 10_000): Promise<ControllerNode> {
    return waitFor(
      () => {
        const running = [...this.nodes.values()];
        const leaders = running.filter((n) => n.status().role === 'leader');
        if (leaders.length !== 1) return undefined;
        const leader = leaders[0] as ControllerNode;
        const epoch = leader.status().epoch;
        const agreed = running.every((n) => n.status().leaderId === leader.nodeId && n.status().epoch === epoch);
        return agreed ? leader : undefined;
      },
      'one agreed leader',
      timeoutMs,
    );
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.stop(id)));
    await Promise.all([...this.#dirs.values()].map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

export function kv(node: ControllerNode): KeyValueStateMachine {
  return node.stateMachine as KeyValueStateMachine;
}

export function record(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
