// The server side of raftka.controller.v1.BrokerLifecycle and raftka.admin.v1.Admin:
// gRPC calls in, typed requests to the controller's handlers, typed answers
// (or a thrown RaftkaError) back out. The controller decides; this file only
// checks the cluster id, converts (control-plane-wire.ts) and maps errors to
// statuses with Kafka trailers (errors.ts).
//
// A heartbeat stream is handed to the controller as a `HeartbeatStream` it
// answers on, and the controller gives back what to do with each heartbeat
// and with the stream's end. `onClose` fires only when the *broker's* side
// ended or broke (half-close, cancellation, a dead connection), never when
// the controller itself ended the stream: only the former means the broker
// process may be gone.
import {
  Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { RaftkaError } from '@raftka/common';
import type {
  AllocateProducerIdsRequest,
  AllocateProducerIdsResponse,
  AlterConfigsResource,
  AlterConfigsResult,
  AlterPartitionRequest,
  AlterPartitionResponse,
  BrokerRegistrationRequest,
  ConfigResource,
  CreatableTopic,
  CreatePartitionsResult,
  CreatePartitionsTopic,
  CreateTopicResult,
  DeleteTopicResult,
  DescribeConfigsResult,
  ElectLeadersRequest,
  ElectLeadersResult,
  TopicDescription,
} from '@raftka/metadata';
import {
  allocateProducerIdsFromWire,
  alterConfigsResourceFromWire,
  alterConfigsResultToWire,
  alterPartitionFromWire,
  alterPartitionResponseToWire,
  type ClusterDescription,
  clusterDescriptionToWire,
  configResourceFromWire,
  creatableTopicFromWire,
  createPartitionsResultToWire,
  createPartitionsTopicFromWire,
  createTopicResultToWire,
  deleteTopicResultToWire,
  describeConfigsResultToWire,
  electLeadersFromWire,
  electLeadersResultToWire,
  type HeartbeatWireRequest,
  type HeartbeatWireResponse,
  heartbeatFromWire,
  heartbeatResponseToWire,
  registrationFromWire,
  topicDescriptionToWire,
} from './control-plane-wire.js';
import { toServiceError } from './errors.js';
import { loadServices } from './proto.js';
import { checkClusterId, type ExtraService } from './server.js';
import type { Wire } from './wire.js';

/** Set by a standby controller on an Admin call it forwards, so the receiver never forwards it again. */
export const FORWARDED_HEADER = 'raftka-forwarded';

// --- BrokerLifecycle -------------------------------------------------------------

export interface HeartbeatStream {
  /** The broker's address, for logs. */
  readonly peer: string;
  /** True once either side ended the stream. */
  readonly closed: boolean;
  send(response: HeartbeatWireResponse): void;
  /** Ends the stream with an error status (NOT_CONTROLLER with the leader's endpoint, SHUTTING_DOWN). */
  fail(err: unknown): void;
}

export interface HeartbeatStreamHandler {
  onHeartbeat(request: HeartbeatWireRequest): void;
  /** The broker's side ended or broke; not called when the controller ended the stream. */
  onClose(reason: 'ended' | 'cancelled' | 'error'): void;
}

export interface BrokerLifecycleHandlers {
  registerBroker(request: BrokerRegistrationRequest): Promise<{ brokerId: number; brokerEpoch: number }>;
  /** A broker opened a heartbeat stream; may throw (NOT_CONTROLLER) to refuse it. */
  openHeartbeatStream(stream: HeartbeatStream): HeartbeatStreamHandler;
  alterPartition(request: AlterPartitionRequest): Promise<AlterPartitionResponse>;
  allocateProducerIds(request: AllocateProducerIdsRequest): Promise<AllocateProducerIdsResponse>;
}

export function brokerLifecycleService(clusterId: string, handlers: BrokerLifecycleHandlers): ExtraService {
  const implementation: UntypedServiceImplementation = {
    RegisterBroker: unary(clusterId, async (w) => {
      const r = await handlers.registerBroker(registrationFromWire(w));
      return { broker_id: r.brokerId, broker_epoch: r.brokerEpoch };
    }),
    BrokerHeartbeat: (call: ServerDuplexStream<Wire, Wire>) => heartbeatStream(clusterId, handlers, call),
    AlterPartition: unary(clusterId, async (w) =>
      alterPartitionResponseToWire(await handlers.alterPartition(alterPartitionFromWire(w))),
    ),
    AllocateProducerIds: unary(clusterId, async (w) => {
      const r = await handlers.allocateProducerIds(allocateProducerIdsFromWire(w));
      return { producer_id_start: r.producerIdStart, producer_id_len: r.producerIdLen };
    }),
  };
  return { definition: loadServices().BrokerLifecycle.service, implementation };
}

function heartbeatStream(clusterId: string, handlers: BrokerLifecycleHandlers, call: ServerDuplexStream<Wire, Wire>) {
  let closed = false;
  let handler: HeartbeatStreamHandler | undefined;
  const stream: HeartbeatStream = {
    peer: call.getPeer(),
    get closed() {
      return closed;
    },
    send(response) {
      if (closed) return;
      call.write(heartbeatResponseToWire(response));
    },
    fail(err) {
      if (closed) return;
      closed = true;
      call.emit('error', toServiceError(err));
    },
  };
  const brokerSideClosed = (reason: 'ended' | 'cancelled' | 'error') => {
    if (closed) return;
    closed = true;
    handler?.onClose(reason);
    if (reason === 'ended') call.end();
  };
  try {
    handler = handlers.openHeartbeatStream(stream);
  } catch (err) {
    stream.fail(err);
    return;
  }
  call.on('data', (w: Wire) => {
    if (closed) return;
    try {
      checkClusterId(w, clusterId);
    } catch (err) {
      stream.fail(err);
      return;
    }
    handler?.onHeartbeat(heartbeatFromWire(w));
  });
  call.on('end', () => brokerSideClosed('ended'));
  call.on('cancelled', () => brokerSideClosed('cancelled'));
  call.on('error', () => brokerSideClosed('error'));
}

// --- Admin -----------------------------------------------------------------------------

export interface AdminCallContext {
  /** The call was forwarded by a standby controller: answer or refuse, never forward again. */
  readonly forwarded: boolean;
}

export interface AdminHandlers {
  createTopics(topics: CreatableTopic[], ctx: AdminCallContext): Promise<CreateTopicResult[]>;
  deleteTopics(names: string[], ctx: AdminCallContext): Promise<DeleteTopicResult[]>;
  createPartitions(topics: CreatePartitionsTopic[], ctx: AdminCallContext): Promise<CreatePartitionsResult[]>;
  /** `names` null: every topic. */
  describeTopics(names: string[] | null, ctx: AdminCallContext): Promise<TopicDescription[]>;
  listTopics(ctx: AdminCallContext): Promise<{ name: string; topicId: string }[]>;
  describeConfigs(resources: ConfigResource[], ctx: AdminCallContext): Promise<DescribeConfigsResult[]>;
  alterConfigs(
    resources: AlterConfigsResource[],
    validateOnly: boolean,
    ctx: AdminCallContext,
  ): Promise<AlterConfigsResult[]>;
  electLeaders(request: ElectLeadersRequest, ctx: AdminCallContext): Promise<ElectLeadersResult[]>;
  describeCluster(ctx: AdminCallContext): Promise<ClusterDescription>;
}

const MAX_ITEMS_PER_ADMIN_CALL = 10_000;

export function adminService(clusterId: string, handlers: AdminHandlers): ExtraService {
  const items = (value: unknown, what: string): Wire[] => {
    const list = (value as Wire[] | undefined) ?? [];
    if (list.length > MAX_ITEMS_PER_ADMIN_CALL) {
      throw new RaftkaError('INVALID_REQUEST', `${list.length} ${what} > ${MAX_ITEMS_PER_ADMIN_CALL} per call`);
    }
    return list;
  };
  const implementation: UntypedServiceImplementation = {
    CreateTopics: unary(clusterId, async (w, ctx) => {
      const topics = items(w.topics, 'topics').map(creatableTopicFromWire);
      return { topics: (await handlers.createTopics(topics, ctx)).map(createTopicResultToWire) };
    }),
    DeleteTopics: unary(clusterId, async (w, ctx) => {
      const names = (items(w.names, 'names') as unknown[]).map(String);
      return { topics: (await handlers.deleteTopics(names, ctx)).map(deleteTopicResultToWire) };
    }),
    CreatePartitions: unary(clusterId, async (w, ctx) => {
      const topics = items(w.topics, 'topics').map(createPartitionsTopicFromWire);
      return { topics: (await handlers.createPartitions(topics, ctx)).map(createPartitionsResultToWire) };
    }),
    DescribeTopics: unary(clusterId, async (w, ctx) => {
      const names = (items(w.names, 'names') as unknown[]).map(String);
      const topics = await handlers.describeTopics(names.length === 0 ? null : names, ctx);
      return { topics: topics.map(topicDescriptionToWire) };
    }),
    ListTopics: unary(clusterId, async (_w, ctx) => ({
      topics: (await handlers.listTopics(ctx)).map((t) => ({ name: t.name, topic_id: t.topicId })),
    })),
    DescribeConfigs: unary(clusterId, async (w, ctx) => {
      const resources = items(w.resources, 'resources').map(configResourceFromWire);
      return { results: (await handlers.describeConfigs(resources, ctx)).map(describeConfigsResultToWire) };
    }),
    AlterConfigs: unary(clusterId, async (w, ctx) => {
      const resources = items(w.resources, 'resources').map(alterConfigsResourceFromWire);
      const results = await handlers.alterConfigs(resources, Boolean(w.validate_only), ctx);
      return { results: results.map(alterConfigsResultToWire) };
    }),
    ElectLeaders: unary(clusterId, async (w, ctx) => {
      items(w.topic_partitions, 'topics');
      return { results: (await handlers.electLeaders(electLeadersFromWire(w), ctx)).map(electLeadersResultToWire) };
    }),
    DescribeCluster: unary(clusterId, async (_w, ctx) => clusterDescriptionToWire(await handlers.describeCluster(ctx))),
  };
  return { definition: loadServices().Admin.service, implementation };
}

// --- Shared ------------------------------------------------------------------------------

function unary(
  clusterId: string,
  body: (request: Wire, ctx: AdminCallContext) => Promise<Wire>,
): (call: ServerUnaryCall<Wire, Wire>, callback: sendUnaryData<Wire>) => void {
  return (call, callback) => {
    const forwarded = call.metadata.get(FORWARDED_HEADER).length > 0;
    Promise.resolve()
      .then(() => {
        checkClusterId(call.request, clusterId);
        return body(call.request, { forwarded });
      })
      .then(
        (response) => callback(null, response),
        (err: unknown) => callback(toServiceError(err) as ServiceError),
      );
  };
}

/** Metadata for a forwarded Admin call. */
export function forwardedMetadata(): Metadata {
  const metadata = new Metadata();
  metadata.set(FORWARDED_HEADER, '1');
  return metadata;
}
