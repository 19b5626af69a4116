import kafkaJs from '@confluentinc/kafka-javascript';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { brokerList, kafkaJsClient, type KafkaConnection } from '../kafka/connection.ts';
import type { GroupMembers } from './observation.ts';

/**
 * Who is in each pipeline's consumer group and which partitions of the readings topic each member
 * was assigned: the status page's view of every aggregator instance, not only this one. One admin
 * client, connected on first use and kept; every call is bounded by `timeoutMs`.
 */
export class GroupMembersError extends PipelineError {
  constructor(message: string, context: Record<string, string | number>, cause?: unknown) {
    super('STATUS_GROUPS_UNAVAILABLE', message, { retriable: true, context, cause });
    this.name = 'GroupMembersError';
  }
}

type Admin = ReturnType<InstanceType<typeof kafkaJs.KafkaJS.Kafka>['admin']>;

export interface GroupMembersOptions {
  readonly connection: KafkaConnection;
  readonly topic: string;
  readonly groups: readonly { readonly pipeline: string; readonly group: string }[];
  readonly timeoutMs?: number;
}

export class GroupMembersReader {
  private admin: Admin | null = null;
  private connected: Promise<void> | null = null;
  private readonly timeoutMs: number;

  constructor(private readonly options: GroupMembersOptions) {
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  async read(): Promise<GroupMembers[]> {
    const admin = await this.connect();
    const groupIds = this.options.groups.map((entry) => entry.group);
    const described = await bounded(admin.describeGroups(groupIds, { timeout: this.timeoutMs }), this.timeoutMs + 1000, 'describing the consumer groups').catch((error: unknown) => {
      throw new GroupMembersError(`describing consumer groups ${groupIds.join(', ')} failed: ${errorMessage(error)}`, { groups: groupIds.join(',') }, error);
    });
    return this.options.groups.map(({ pipeline, group }) => {
      const description = described.groups.find((entry) => entry.groupId === group);
      return {
        pipeline,
        group,
        members: (description?.members ?? []).map((member) => ({
          clientId: member.clientId,
          host: member.clientHost.replace(/^\//, ''),
          partitions: (member.assignment?.topicPartitions ?? []).filter((entry) => entry.topic === this.options.topic).map((entry) => entry.partition),
        })),
      };
    });
  }

  async close(): Promise<void> {
    const admin = this.admin;
    const connected = this.connected;
    this.admin = null;
    this.connected = null;
    if (!admin || !connected) return;
    // A connection that never came up has nothing to disconnect.
    if (await connected.then(() => true, () => false)) await admin.disconnect();
  }

  private async connect(): Promise<Admin> {
    if (!this.admin || !this.connected) {
      const admin = kafkaJsClient(this.options.connection, 'nothing').admin();
      this.admin = admin;
      this.connected = admin.connect();
    }
    const admin = this.admin;
    const connected = this.connected;
    try {
      await bounded(connected, this.timeoutMs, 'connecting the admin client');
    } catch (error) {
      // Start afresh next time; the attempt in progress, if it ever connects, is closed.
      if (this.connected === connected) {
        this.admin = null;
        this.connected = null;
        connected.then(() => admin.disconnect()).catch(() => undefined);
      }
      throw new GroupMembersError(`Kafka admin client on ${brokerList(this.options.connection)} is not available: ${errorMessage(error)}`, { brokers: brokerList(this.options.connection) }, error);
    }
    return admin;
  }
}

function bounded<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
