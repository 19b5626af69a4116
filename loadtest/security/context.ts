import { randomBytes } from 'node:crypto';
import type { LocalStackConfig } from '../../src/stack/config-schema.ts';
import type { RunBridge } from './bridge.ts';
import type { Capability } from './check.ts';
import { readingKeys } from './kafka-audit.ts';

/**
 * What the checks of one run share: the local stack's configuration, the run's bridge, every
 * secret the run knows (the secret scan looks for each), every error text the run was answered
 * with, and the log files of the processes it started.
 */
export interface KnownSecret {
  /** Where it comes from (a configuration path, an account), never the value: findings print this. */
  readonly label: string;
  readonly value: string;
}

export class RunContext {
  readonly secrets: KnownSecret[] = [];
  /** Error texts the run was answered with (HTTP bodies, MQTT reason strings), by where they came from. */
  readonly answers: { readonly source: string; readonly text: string }[] = [];
  readonly logFiles: string[] = [];
  private readonly missing = new Map<Capability, string>();
  private serial = 0;

  constructor(
    readonly runId: string,
    readonly stack: LocalStackConfig,
    readonly bridge: RunBridge | undefined,
    readonly log: (line: string) => void,
  ) {}

  /** Why the run lacks `capability`, or undefined when it has it. */
  lacks(capability: Capability): string | undefined {
    return this.missing.get(capability);
  }

  markMissing(capability: Capability, why: string): void {
    this.missing.set(capability, why);
  }

  /** The run's bridge (checks that require 'direct-mqtt' or 'http-intake' have one). */
  get runBridge(): RunBridge {
    if (this.bridge === undefined) throw new Error('this run started no bridge');
    return this.bridge;
  }

  /** A secret the scan must not find: empty values say "none set" and are not searched for. */
  addSecret(label: string, value: string): void {
    if (value !== '' && !this.secrets.some((known) => known.value === value)) this.secrets.push({ label, value });
  }

  /** A wrong credential the run sent: a typo of a real one is as secret as the real one. */
  wrongSecret(label: string): string {
    const value = `wrong-${randomBytes(12).toString('base64url')}`;
    this.addSecret(label, value);
    return value;
  }

  /** A PEM private key: its longest base64 line stands for it (a log holding any of the key holds that line or another). */
  addPrivateKey(label: string, pem: string): void {
    const lines = pem.split('\n').filter((line) => /^[A-Za-z0-9+/=]{32,}$/.test(line.trim()));
    for (const [index, line] of lines.entries()) this.addSecret(`${label} (line ${index + 1})`, line.trim());
  }

  answered(source: string, text: string): void {
    if (text !== '') this.answers.push({ source, text });
  }

  /** A reading id no other attempt of the run uses. */
  id(prefix: string): string {
    return `${prefix}-${this.runId}-${++this.serial}`;
  }

  /** `tenant/device/id` of every reading in the run's readings topic now. */
  readings(): Promise<Set<string>> {
    return readingKeys(this.runBridge.config.kafka, this.runBridge.readingsTopic);
  }
}

/** One reading as a device sends it (JSON, the bridge's default codec). */
export function readingPayload(id: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...extra, id, ts: Date.now(), metrics: { v: 1 } });
}
