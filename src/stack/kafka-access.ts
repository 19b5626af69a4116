import type { Config } from '../config/schema.ts';
import { CLUSTER_RESOURCE, createAcls, type AclBinding } from '../kafka/acls.ts';
import type { KafkaConnection } from '../kafka/connection.ts';
import { upsertScramUsers } from '../kafka/scram-users.ts';
import { WireConnection } from '../kafka/wire/client.ts';
import type { StackConfig } from './config-schema.ts';
import { localKafkaPasswords, localKafkaSecurity, type KafkaPrincipal } from './local-credentials.ts';

/**
 * What each service principal of the local Kafka may do, and nothing more (decision 0020):
 *
 *   bridge      WRITE, DESCRIBE on the readings and dead-letter topics; IDEMPOTENT_WRITE on the
 *               cluster (its idempotent producer). No READ, no group.
 *   aggregator  READ, DESCRIBE, DESCRIBE_CONFIGS (its ingest-clock check) on the readings topic;
 *               WRITE, DESCRIBE on the late topic; READ, DESCRIBE on each pipeline's consumer group;
 *               WRITE, DESCRIBE on the transactional ids `tp-<group>-*` (prefixed: one per instance);
 *               IDEMPOTENT_WRITE on the cluster. It never writes the readings topic.
 *
 * Topic and group names are literal: the pipeline's configured ones. A run on topics of its own (the
 * load test, the chaos run, the security suite) grants the same set on its topics with
 * grantServiceAccess; everything else (tests, benchmarks, tools) uses the stack's admin principal.
 */
export type ServiceTopics = Pick<Config['kafka'], 'readingsTopic' | 'deadLetterTopic' | 'lateTopic'>;

export function serviceAcls(topics: ServiceTopics, consumerGroups: readonly string[]): AclBinding[] {
  const allow = (principal: KafkaPrincipal, resource: AclBinding['resource'], name: string, operations: AclBinding['operation'][], pattern: AclBinding['pattern'] = 'literal'): AclBinding[] =>
    operations.map((operation) => ({ principal: `User:${principal}`, resource, name, pattern, operation }));
  return [
    ...allow('bridge', 'topic', topics.readingsTopic, ['write', 'describe']),
    ...allow('bridge', 'topic', topics.deadLetterTopic, ['write', 'describe']),
    ...allow('bridge', 'cluster', CLUSTER_RESOURCE, ['idempotent-write']),
    ...allow('aggregator', 'topic', topics.readingsTopic, ['read', 'describe', 'describe-configs']),
    ...allow('aggregator', 'topic', topics.lateTopic, ['write', 'describe']),
    ...consumerGroups.flatMap((group) => [
      ...allow('aggregator', 'group', group, ['read', 'describe']),
      ...allow('aggregator', 'transactional-id', `tp-${group}-`, ['write', 'describe'], 'prefixed'),
    ]),
    ...allow('aggregator', 'cluster', CLUSTER_RESOURCE, ['idempotent-write']),
  ];
}

/** True when `principal` can log in with the password the stack keeps for it. */
async function canLogIn(connection: KafkaConnection, security: KafkaConnection['security']): Promise<boolean> {
  try {
    const wire = await WireConnection.open(connection.brokers[0]!, security, 10_000);
    wire.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * The service principals exist with the stack's passwords (a stack formatted by an older version,
 * or whose credential file was regenerated, gets them), and hold the ACLs of `topics` and `groups`.
 * `admin`: a connection of the stack's admin principal. Nothing to do on a plaintext stack.
 */
export async function grantServiceAccess(stack: StackConfig, admin: KafkaConnection, topics: ServiceTopics, consumerGroups: readonly string[]): Promise<{ usersSet: string[] }> {
  if (stack.kafkaProtocol === 'plaintext') return { usersSet: [] };
  const passwords = localKafkaPasswords(stack);
  const usersSet: KafkaPrincipal[] = [];
  for (const principal of ['bridge', 'aggregator'] as const) {
    if (!(await canLogIn(admin, localKafkaSecurity(stack, principal)))) usersSet.push(principal);
  }
  await upsertScramUsers(admin, usersSet.map((name) => ({ name, password: passwords[name] })));
  await createAcls(admin, serviceAcls(topics, consumerGroups));
  return { usersSet };
}

/** The consumer groups of a configuration's pipelines (each defaults to aggregator-<name> at load). */
export function pipelineGroups(config: Pick<Config, 'aggregator'>): string[] {
  return config.aggregator.pipelines.map((pipeline) => pipeline.consumerGroup);
}
