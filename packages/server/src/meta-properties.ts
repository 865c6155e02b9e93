// meta.properties: the identity of a data directory. Written once, on a
// node's first start, by write-temp, fsync, rename; checked on every later
// start so a node never serves another cluster's data or another node's log
// (Kafka's `kafka-storage format` writes the same file).
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RaftkaError } from '@raftka/common';
import { parseProperties } from './config.js';

export const META_PROPERTIES_VERSION = 1;

export function ensureMetaProperties(dir: string, clusterId: string, nodeId: number): 'created' | 'verified' {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'meta.properties');
  let text: string | null = null;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text === null) {
    const body = `# Written by Raftka on first start. Do not edit.\nversion=${META_PROPERTIES_VERSION}\ncluster.id=${clusterId}\nnode.id=${nodeId}\n`;
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    return 'created';
  }
  const props = parseProperties(text, path);
  const version = Number(props.get('version'));
  if (version !== META_PROPERTIES_VERSION) {
    throw new RaftkaError('CORRUPT_STATE', `${path}: unsupported version ${props.get('version')}`);
  }
  if (props.get('cluster.id') !== clusterId) {
    throw new RaftkaError(
      'INVALID_CLUSTER_ID',
      `${path} belongs to cluster "${props.get('cluster.id')}", but cluster.id is "${clusterId}"; refusing to start on another cluster's data`,
    );
  }
  if (props.get('node.id') !== String(nodeId)) {
    throw new RaftkaError(
      'INVALID_CONFIG',
      `${path} belongs to node ${props.get('node.id')}, but node.id is ${nodeId}; refusing to start on another node's data`,
    );
  }
  return 'verified';
}
