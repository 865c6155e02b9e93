// The quorum as every controller sees it, gathered by asking each one. Used
// by the local cluster's status view, the tests and the benchmarks to find
// the active controller without trusting any single node's view.
import { QuorumClient } from '@raftka/transport';

export interface NodeStatus {
  nodeId: number;
  reachable: boolean;
  role: string;
  epoch: number;
  leaderId: number;
  highWatermark: number;
}

export interface QuorumStatus {
  /** The leader of the highest epoch that some node reports as leader itself, or -1. */
  leaderId: number;
  epoch: number;
  nodes: NodeStatus[];
}

export async function quorumStatus(clients: Map<number, QuorumClient>): Promise<QuorumStatus> {
  const nodes = await Promise.all(
    [...clients.entries()].map(async ([nodeId, client]): Promise<NodeStatus> => {
      try {
        const d = await client.describeQuorum();
        return {
          nodeId,
          reachable: true,
          role: d.role,
          epoch: d.epoch,
          leaderId: d.leaderId,
          highWatermark: d.highWatermark,
        };
      } catch {
        return { nodeId, reachable: false, role: 'unknown', epoch: -1, leaderId: -1, highWatermark: -1 };
      }
    }),
  );
  const leaders = nodes.filter((n) => n.reachable && n.role === 'leader').sort((a, b) => b.epoch - a.epoch);
  const leader = leaders[0];
  return { leaderId: leader?.nodeId ?? -1, epoch: leader?.epoch ?? -1, nodes };
}

/** One client per controller, each bound to that node alone (no redirects), for asking every node its view. */
export function nodeClients(
  clusterId: string,
  endpoints: Array<{ nodeId: number; host: string; port: number }>,
  requestTimeoutMs = 500,
): Map<number, QuorumClient> {
  return new Map(
    endpoints.map((e) => [
      e.nodeId,
      new QuorumClient({ clusterId, bootstrapEndpoints: [`${e.host}:${e.port}`], requestTimeoutMs }),
    ]),
  );
}
