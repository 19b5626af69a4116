import { KafkaAdminError } from './admin.ts';
import type { KafkaConnection } from './connection.ts';
import { Reader, Writer } from './wire/codec.ts';
import { wireRequest } from './wire/client.ts';
import { scramCredential } from './wire/scram.ts';

/**
 * SCRAM-SHA-512 users on the brokers (AlterUserScramCredentials v0, KIP-554): the salted password
 * is computed here, so the password itself never travels, not even to the broker.
 */
const API_ALTER_USER_SCRAM_CREDENTIALS = 51;
const SCRAM_SHA_512 = 2;
/** Kafka's minimum for SCRAM-SHA-512 is 4096; 8192 is what its own tools use. */
const ITERATIONS = 8192;

export interface ScramUser {
  readonly name: string;
  readonly password: string;
}

/** Creates each user, or sets its password when it exists. */
export async function upsertScramUsers(connection: KafkaConnection, users: readonly ScramUser[], timeoutMs = 10_000): Promise<void> {
  if (users.length === 0) return;
  const body = new Writer().compactArrayLength(0).compactArrayLength(users.length);
  for (const user of users) {
    const credential = scramCredential(user.password, ITERATIONS);
    body.compactString(user.name).int8(SCRAM_SHA_512).int32(credential.iterations).compactBytes(credential.salt).compactBytes(credential.saltedPassword).noTags();
  }
  body.noTags();
  const request = { apiKey: API_ALTER_USER_SCRAM_CREDENTIALS, version: 0, flexible: true, body: body.bytes() };
  const response = new Reader(await wireRequest(connection, request, timeoutMs, 'setting Kafka SCRAM credentials'));
  response.int32(); // throttle_time_ms
  const results = response.compactArrayLength();
  for (let i = 0; i < results; i++) {
    const user = response.compactNullableString() ?? '';
    const errorCode = response.int16();
    const errorText = response.compactNullableString();
    response.tags();
    if (errorCode !== 0) {
      throw new KafkaAdminError(`setting the SCRAM credential of Kafka user '${user}' failed: Kafka error ${errorCode}${errorText ? ` (${errorText})` : ''}`, { user, kafkaError: errorCode });
    }
  }
}
