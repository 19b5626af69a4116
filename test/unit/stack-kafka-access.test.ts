import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeAcl } from '../../src/kafka/acls.ts';
import { serviceAcls } from '../../src/stack/kafka-access.ts';

/**
 * The services' ACLs on the local Kafka are least privilege (decision 0020): what each principal
 * may do, listed; and above all what it may not — the bridge reads nothing and joins no group, the
 * aggregator writes nothing but the late topic.
 */
const topics = { readingsTopic: 'telemetry.readings', deadLetterTopic: 'telemetry.dead-letter', lateTopic: 'telemetry.late' };
const acls = serviceAcls(topics, ['aggregator-main']);
const of = (principal: string): string[] => acls.filter((acl) => acl.principal === `User:${principal}`).map(describeAcl).sort();

test('the bridge may write and describe the readings and dead-letter topics, idempotently, and nothing else', () => {
  assert.deepEqual(of('bridge'), [
    'User:bridge DESCRIBE on topic telemetry.dead-letter',
    'User:bridge DESCRIBE on topic telemetry.readings',
    'User:bridge IDEMPOTENT-WRITE on cluster kafka-cluster',
    'User:bridge WRITE on topic telemetry.dead-letter',
    'User:bridge WRITE on topic telemetry.readings',
  ]);
});

test('the aggregator reads the readings topic, writes only the late topic, in its own group and transactional ids', () => {
  assert.deepEqual(of('aggregator'), [
    'User:aggregator DESCRIBE on group aggregator-main',
    'User:aggregator DESCRIBE on topic telemetry.late',
    'User:aggregator DESCRIBE on topic telemetry.readings',
    'User:aggregator DESCRIBE on transactional-id tp-aggregator-main-*',
    'User:aggregator DESCRIBE-CONFIGS on topic telemetry.readings',
    'User:aggregator IDEMPOTENT-WRITE on cluster kafka-cluster',
    'User:aggregator READ on group aggregator-main',
    'User:aggregator READ on topic telemetry.readings',
    'User:aggregator WRITE on topic telemetry.late',
    'User:aggregator WRITE on transactional-id tp-aggregator-main-*',
  ]);
  assert.ok(!acls.some((acl) => acl.principal === 'User:aggregator' && acl.operation === 'write' && acl.name === topics.readingsTopic));
  assert.ok(!acls.some((acl) => acl.principal === 'User:bridge' && (acl.operation === 'read' || acl.resource === 'group')));
  // Only the transactional ids are prefixed: a topic or group pattern would reach other pipelines' names.
  assert.deepEqual([...new Set(acls.filter((acl) => acl.pattern === 'prefixed').map((acl) => acl.resource))], ['transactional-id']);
});
