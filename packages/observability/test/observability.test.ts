import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, Metrics, startMetricsServer } from '../src/index.js';

function sink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      chunks.push(String(chunk));
      callback();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('puts node id and role in every line, children included', () => {
    const out = sink();
    const logger = createLogger({ nodeId: 7, role: 'controller', level: 'info', destination: out.stream });
    logger.info('hello');
    logger.child({ component: 'raft' }).warn({ epoch: 3 }, 'became leader');
    logger.debug('dropped');
    const lines = out.lines();
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.nodeId).toBe(7);
      expect(line.role).toBe('controller');
    }
    expect(lines[1]).toMatchObject({ component: 'raft', epoch: 3, level: 'warn', msg: 'became leader' });
  });
});

describe('Metrics', () => {
  it('keeps separate registries per node and serves /metrics', async () => {
    const a = new Metrics({ defaultLabels: { node_id: '1' } });
    const b = new Metrics({ defaultLabels: { node_id: '2' } });
    // The same name in two registries must not clash (it would in the global one).
    a.gauge('raftka_test_gauge', 'a test').set(5);
    b.gauge('raftka_test_gauge', 'a test').set(9);
    a.counter('raftka_test_total', 'a counter').inc(2);
    expect(await a.text()).toContain('raftka_test_gauge{node_id="1"} 5');
    expect(await b.text()).toContain('raftka_test_gauge{node_id="2"} 9');

    const server = await startMetricsServer(a.registry, 0, '127.0.0.1');
    try {
      expect(server.port).toBeGreaterThan(0);
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      expect(res.status).toBe(200);
      const body = await res.text();
      expect(body).toContain('raftka_test_total{node_id="1"} 2');
      expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
