// Read-side answers and topic rules shared by the controller's handlers:
// Kafka's topic name rules, DescribeTopics and DescribeConfigs. They read an
// image and write nothing.
import { RaftkaError } from '@raftka/common';
import { CONFIG_SCHEMA } from './config-schema.js';
import type { MetadataImage } from './image.js';
import {
  apiError,
  type ConfigEntry,
  type ConfigResource,
  type DescribeConfigsResult,
  type TopicDescription,
} from './requests.js';

export const TOPIC_NAME_LENGTH_MAX = 249;
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;

/**
 * Kafka's rules: [a-zA-Z0-9._-], at most 249 characters, not "." or "..";
 * plus TOPIC_ALREADY_EXISTS, and INVALID_TOPIC_EXCEPTION for a name that
 * differs from an existing one only in '.' versus '_' (their metric names
 * would collide).
 */
export function validateTopicName(name: string, image: MetadataImage): void {
  const invalid = (why: string) =>
    new RaftkaError('INVALID_TOPIC_EXCEPTION', `Topic name '${name}' is illegal: ${why}`);
  if (name.length === 0) throw invalid('it is empty');
  if (name === '.' || name === '..') throw invalid('"." and ".." are not allowed');
  if (name.length > TOPIC_NAME_LENGTH_MAX) throw invalid(`it is longer than ${TOPIC_NAME_LENGTH_MAX} characters`);
  if (!LEGAL_TOPIC_NAME.test(name)) throw invalid('only ASCII letters, digits, ".", "_" and "-" are allowed');
  if (image.topicByName(name) !== undefined)
    throw new RaftkaError('TOPIC_ALREADY_EXISTS', `Topic '${name}' already exists`);
  const folded = name.replaceAll('.', '_');
  for (const existing of image.topicIdsByName.keys()) {
    if (existing.replaceAll('.', '_') === folded) {
      throw new RaftkaError('INVALID_TOPIC_EXCEPTION', `Topic '${name}' collides with existing topic '${existing}'`);
    }
  }
}

export function describeTopics(image: MetadataImage, names: readonly string[] | null): TopicDescription[] {
  const wanted = names ?? [...image.topicIdsByName.keys()].sort();
  return wanted.map((name): TopicDescription => {
    const topic = image.topicByName(name);
    if (topic === undefined) {
      return {
        name,
        topicId: null,
        error: apiError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic ${name}`),
        partitions: [],
      };
    }
    return {
      name,
      topicId: topic.topicId,
      error: null,
      partitions: topic.partitions.map((p, partition) => ({
        partition,
        leader: p.leader,
        leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch,
        replicas: p.replicas,
        isr: p.isr,
        offlineReplicas: p.replicas.filter((id) => image.broker(id)?.fenced ?? true),
      })),
    };
  });
}

export function describeConfigs(image: MetadataImage, resources: readonly ConfigResource[]): DescribeConfigsResult[] {
  return resources.map((resource): DescribeConfigsResult => {
    const { resourceType, resourceName } = resource;
    if (resourceType === 'topic' && image.topicByName(resourceName) === undefined) {
      return {
        resourceType,
        resourceName,
        error: apiError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic ${resourceName}`),
        entries: [],
      };
    }
    if (resourceType === 'cluster' && resourceName !== '') {
      return {
        resourceType,
        resourceName,
        error: apiError('INVALID_REQUEST', `the cluster config resource has the name '', not '${resourceName}'`),
        entries: [],
      };
    }
    const own = resourceType === 'topic' ? image.topicConfigs.get(resourceName) : undefined;
    const entries = CONFIG_SCHEMA.filter((key) => key.scopes.includes(resourceType)).map((key): ConfigEntry => {
      const topicValue = own?.get(key.name);
      if (topicValue !== undefined) return { name: key.name, value: topicValue, source: 'topic', unit: key.unit };
      const clusterValue = image.clusterConfigs.get(key.name);
      if (clusterValue !== undefined) return { name: key.name, value: clusterValue, source: 'cluster', unit: key.unit };
      return { name: key.name, value: key.defaultValue, source: 'default', unit: key.unit };
    });
    return { resourceType, resourceName, error: null, entries };
  });
}
