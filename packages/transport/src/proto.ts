// The one place Raftka loads its .proto files. Every option is spelled out
// because proto-loader's defaults (longs as Long objects, enums as numbers,
// absent fields omitted) would each change what the code below sees:
//
// - keepCase: true      field names stay snake_case as written in the .proto;
//                       wire.ts converts to the camelCase of @raftka/raft.
// - longs: Number       int64 offsets arrive as plain numbers. Offsets and
//                       epochs stay below 2^53 (an offset per microsecond for
//                       285 years), encoders assert Number.isSafeInteger, and
//                       numbers avoid a BigInt/String conversion per entry on
//                       the fetch path.
// - enums: String       EntryKind arrives as 'ENTRY_KIND_DATA', readable in
//                       logs and robust to enum renumbering mistakes.
// - bytes: Buffer       `data`, `chunk` and `records` arrive as Buffers
//                       (views, no base64).
// - defaults: true      absent scalars read as 0/''/false and absent messages
//                       as null, so decoders need no `?? 0` everywhere.
// - arrays: true        absent repeated fields read as [].
// - objects: true       absent map fields read as {}.
// - oneofs: true        a oneof's virtual field names the member that is set.
// - includeDirs         imports resolve from the repository's proto/ root.
//
// The proto/ directory is found by walking up from this module, so it works
// from packages/transport/src (vitest) and packages/transport/dist (node) alike;
// RAFTKA_PROTO_DIR overrides it for unusual installs.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GrpcObject, loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import { RaftkaError } from '@raftka/common';

export const RAFT_PROTO = 'raftka/raft/v1/raft.proto';
export const QUORUM_PROTO = 'raftka/quorum/v1/quorum.proto';
export const CONTROLLER_PROTO = 'raftka/controller/v1/controller.proto';
export const ADMIN_PROTO = 'raftka/admin/v1/admin.proto';
export const BROKER_PROTO = 'raftka/broker/v1/broker.proto';

/** Upper bound of the directory walk; the repo root is a few levels up. */
const MAX_WALK_UP = 8;

export function findProtoDir(): string {
  const override = process.env.RAFTKA_PROTO_DIR;
  if (override) {
    if (!existsSync(join(override, RAFT_PROTO))) {
      throw new RaftkaError('INVALID_CONFIG', `RAFTKA_PROTO_DIR=${override} holds no ${RAFT_PROTO}`);
    }
    return resolve(override);
  }
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < MAX_WALK_UP; i++) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, RAFT_PROTO))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new RaftkaError('INVALID_CONFIG', `cannot find proto/${RAFT_PROTO} above ${fileURLToPath(import.meta.url)}`);
}

export function protoLoaderOptions(protoDir: string): Options {
  return {
    keepCase: true,
    longs: Number,
    enums: String,
    bytes: Buffer,
    defaults: true,
    arrays: true,
    objects: true,
    oneofs: true,
    includeDirs: [protoDir],
  };
}

export interface RaftkaServices {
  /** raftka.raft.v1.Raft: the inter-node RPCs. */
  Raft: ServiceClientConstructor;
  /** raftka.quorum.v1.Quorum: the client-facing quorum API. */
  Quorum: ServiceClientConstructor;
  /** raftka.controller.v1.BrokerLifecycle: registration, heartbeats, AlterPartition, producer ids. */
  BrokerLifecycle: ServiceClientConstructor;
  /** raftka.admin.v1.Admin: topics, configs, elections, cluster description. */
  Admin: ServiceClientConstructor;
  /** raftka.broker.v1.Broker: produce, fetch, list offsets, metadata, producer ids. */
  Broker: ServiceClientConstructor;
}

let cached: RaftkaServices | undefined;

/** Loads every service once per process. */
export function loadServices(): RaftkaServices {
  if (cached) return cached;
  const protoDir = findProtoDir();
  const definition = loadSync(
    [RAFT_PROTO, QUORUM_PROTO, CONTROLLER_PROTO, ADMIN_PROTO, BROKER_PROTO],
    protoLoaderOptions(protoDir),
  );
  const root = loadPackageDefinition(definition);
  cached = {
    Raft: lookupService(root, ['raftka', 'raft', 'v1', 'Raft']),
    Quorum: lookupService(root, ['raftka', 'quorum', 'v1', 'Quorum']),
    BrokerLifecycle: lookupService(root, ['raftka', 'controller', 'v1', 'BrokerLifecycle']),
    Admin: lookupService(root, ['raftka', 'admin', 'v1', 'Admin']),
    Broker: lookupService(root, ['raftka', 'broker', 'v1', 'Broker']),
  };
  return cached;
}

function lookupService(root: GrpcObject, path: string[]): ServiceClientConstructor {
  let node: unknown = root;
  for (const name of path) node = (node as Record<string, unknown> | undefined)?.[name];
  if (typeof node !== 'function' || !('service' in node)) {
    throw new RaftkaError('INVALID_CONFIG', `proto definitions lack the service ${path.join('.')}`);
  }
  return node as ServiceClientConstructor;
}
