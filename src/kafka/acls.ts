import { KafkaAdminError } from './admin.ts';
import type { KafkaConnection } from './connection.ts';
import { Reader, Writer } from './wire/codec.ts';
import { wireRequest } from './wire/client.ts';

/**
 * Kafka ACLs (CreateAcls v1) over the Kafka protocol: the librdkafka binding has no ACL calls, and
 * Kafka's own kafka-acls tool would start a JVM per `stack up`. Creating an ACL that exists already
 * changes nothing, so callers state the whole set they need every time.
 */
const API_CREATE_ACLS = 30;

export type AclResource = 'topic' | 'group' | 'cluster' | 'transactional-id';
export type AclPattern = 'literal' | 'prefixed';
export type AclOperation = 'read' | 'write' | 'describe' | 'describe-configs' | 'idempotent-write';

export interface AclBinding {
  /** 'User:<name>'. */
  readonly principal: string;
  readonly resource: AclResource;
  /** The resource's name (the cluster's is always 'kafka-cluster'). */
  readonly name: string;
  readonly pattern: AclPattern;
  readonly operation: AclOperation;
}

export const CLUSTER_RESOURCE = 'kafka-cluster';

const RESOURCE: Readonly<Record<AclResource, number>> = { topic: 2, group: 3, cluster: 4, 'transactional-id': 5 };
const PATTERN: Readonly<Record<AclPattern, number>> = { literal: 3, prefixed: 4 };
const OPERATION: Readonly<Record<AclOperation, number>> = { read: 3, write: 4, describe: 8, 'describe-configs': 10, 'idempotent-write': 12 };
const ALLOW = 3;
const ANY_HOST = '*';

export function describeAcl(binding: AclBinding): string {
  return `${binding.principal} ${binding.operation.toUpperCase()} on ${binding.resource} ${binding.pattern === 'prefixed' ? `${binding.name}*` : binding.name}`;
}

/** Allows each binding (from any host); fails naming the first ACL the broker refused to create. */
export async function createAcls(connection: KafkaConnection, bindings: readonly AclBinding[], timeoutMs = 10_000): Promise<void> {
  if (bindings.length === 0) return;
  const body = new Writer().int32(bindings.length);
  for (const binding of bindings) {
    body
      .int8(RESOURCE[binding.resource])
      .string(binding.name)
      .int8(PATTERN[binding.pattern])
      .string(binding.principal)
      .string(ANY_HOST)
      .int8(OPERATION[binding.operation])
      .int8(ALLOW);
  }
  const response = new Reader(await wireRequest(connection, { apiKey: API_CREATE_ACLS, version: 1, body: body.bytes() }, timeoutMs, 'creating Kafka ACLs'));
  response.int32(); // throttle_time_ms
  const results = response.int32();
  for (let i = 0; i < results; i++) {
    const errorCode = response.int16();
    const errorText = response.nullableString();
    if (errorCode !== 0) {
      const binding = bindings[i]!;
      // 31 CLUSTER_AUTHORIZATION_FAILED: only a super user (or one with ALTER on the cluster) may create ACLs.
      throw new KafkaAdminError(`creating the ACL "${describeAcl(binding)}" failed: Kafka error ${errorCode}${errorText ? ` (${errorText})` : ''}`, { principal: binding.principal, kafkaError: errorCode });
    }
  }
}
