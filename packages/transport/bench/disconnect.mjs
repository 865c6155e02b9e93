// How fast does a Raft peer channel notice that its peer died, and how fast
// does it reach the peer again after a restart? Loopback, the peer in its own
// process (test/fixtures/parked-raft-server.mjs) with a Fetch parked on it, as
// a follower's long poll sits on its leader. Prints medians over N rounds.
//
//   npx tsc -b packages/transport && node packages/transport/bench/disconnect.mjs [rounds]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PeerChannel } from '../dist/index.js';

const rounds = Number(process.argv[2] ?? 10);
const fixture = fileURLToPath(new URL('../test/fixtures/parked-raft-server.mjs', import.meta.url));

function startPeer(port) {
  const child = spawn(process.execPath, [fixture, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve({ child, port: Number(String(chunk).trim()), at: performance.now() }));
    child.once('exit', (code) => reject(new Error(`peer exited ${code}`)));
  });
}

const vote = {
  type: 'VoteRequest',
  from: 2,
  to: 1,
  candidateEpoch: 1,
  lastOffsetEpoch: 0,
  lastOffset: 0,
  preVote: true,
};
const fetch = {
  type: 'FetchRequest',
  from: 2,
  to: 1,
  currentLeaderEpoch: 1,
  fetchOffset: 0,
  lastFetchedEpoch: 0,
  maxBytes: 1024,
  maxWaitMs: 60_000,
};

const detect = [];
const reconnect = [];
let peer = await startPeer(0);
for (let round = 0; round < rounds; round++) {
  let answered = 0;
  let disconnectedAt = 0;
  const channel = new PeerChannel({
    selfId: 2,
    peer: { nodeId: 1, host: '127.0.0.1', port: peer.port },
    clusterId: 'bench',
    requestTimeoutMs: 2_000,
    maxInFlight: 64,
    maxMessageBytes: 4 << 20,
    onMessage: () => answered++,
    onDisconnect: () => {
      disconnectedAt = performance.now();
    },
  });
  channel.send(vote);
  while (answered === 0) await new Promise((r) => setTimeout(r, 1));
  channel.send(fetch);
  await new Promise((r) => setTimeout(r, 20));
  const killedAt = performance.now();
  peer.child.kill('SIGKILL');
  while (disconnectedAt === 0) await new Promise((r) => setTimeout(r, 0));
  detect.push(disconnectedAt - killedAt);

  peer = await startPeer(peer.port);
  const before = answered;
  while (answered === before) {
    channel.send(vote);
    await new Promise((r) => setTimeout(r, 1));
  }
  reconnect.push(performance.now() - peer.at);
  channel.close();
}
peer.child.kill('SIGKILL');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) =>
  `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} (n=${xs.length})`;
console.log(`disconnect signal after SIGKILL of the peer: ${fmt(detect)}`);
console.log(`first answer after the restarted peer listens: ${fmt(reconnect)}`);
