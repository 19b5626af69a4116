/**
 * What a security check is, and how it counts. A check makes attempts an attacker would make and
 * classifies each one:
 *   refused           — refused the documented way (status or reason code), and nothing of it
 *                        reached Kafka;
 *   admitted wrongly  — let in: written to Kafka, a subscription granted, a connection kept open
 *                        past its limit, a secret found in a log;
 *   unexpected        — neither: refused, but not the documented way, or the check could not tell
 *                        (its legitimate control reading was not found). Not a pass either.
 */
import type { RunContext } from './context.ts';

/**
 * What a check needs from the run; the context says for each whether it has it (and why not).
 * The TLS, key-rotation and ClickHouse-role checks will add their own (see registry.ts).
 */
export type Capability =
  | 'direct-mqtt'
  | 'http-intake'
  | 'stack-mosquitto'
  | 'logs'
  /** The direct MQTT endpoint is MQTT over TLS and verifies device certificates (edge.tls.mode 'required', clientCaFile). */
  | 'mqtt-tls'
  /** The HTTP intake is HTTPS (edge.tls.mode 'required'). */
  | 'https'
  /** The HTTP intake reads a hashed gateway key file (edge.hashedGatewayKeysFile) that the run writes. */
  | 'gateway-key-rotation'
  /** The local ClickHouse has a user per role (clickhouse.roles) with passwords the run knows. */
  | 'clickhouse-roles'
  /** The local Kafka listens with SASL_SSL and holds the services' principals and ACLs (stack.kafkaProtocol 'sasl_ssl'). */
  | 'kafka-sasl';

export type Verdict = 'refused' | 'admitted' | 'unexpected';

export interface SecurityCheck {
  /** Stable, kebab-case: the JSON line and the test name carry it. */
  readonly name: string;
  readonly requires: readonly Capability[];
  /**
   * 'attack' checks run while the run's bridge runs; 'after-stop' ones once every process the run
   * started has exited (the secret scan reads complete logs).
   */
  readonly phase: 'attack' | 'after-stop';
  run(context: RunContext, tally: Tally): Promise<void>;
}

export interface CheckResult {
  readonly name: string;
  readonly attempts: number;
  readonly refused: number;
  readonly admitted_wrongly: number;
  readonly unexpected: number;
  readonly detail: string;
}

/** The attempts of one check: counts, and a line for each one that was not refused as documented. */
export class Tally {
  private refusedCount = 0;
  private admittedCount = 0;
  private unexpectedCount = 0;
  private readonly findings: string[] = [];
  private readonly refusals = new Map<string, number>();
  private readonly notes: string[] = [];

  /** One attempt: `what` names it, `how` says what was observed. */
  record(verdict: Verdict, what: string, how: string): void {
    if (verdict === 'refused') {
      this.refusedCount++;
      this.refusals.set(how, (this.refusals.get(how) ?? 0) + 1);
      return;
    }
    if (verdict === 'admitted') this.admittedCount++;
    else this.unexpectedCount++;
    this.findings.push(`${verdict === 'admitted' ? 'ADMITTED' : 'UNEXPECTED'} ${what}: ${how}`);
  }

  /** Context for the detail (the limits the check ran against, an observation that is not an attempt). */
  note(text: string): void {
    this.notes.push(text);
  }

  /** The check failed before it could classify its attempts: counted as one unexpected outcome. */
  failed(error: string): void {
    this.unexpectedCount++;
    this.findings.push(`CHECK FAILED: ${error}`);
  }

  result(name: string): CheckResult {
    const refusedAs = [...this.refusals].map(([how, count]) => (count > 1 ? `${count}× ${how}` : how));
    const parts = [...this.findings, ...(refusedAs.length > 0 ? [`refused: ${refusedAs.join('; ')}`] : []), ...this.notes];
    return {
      name,
      attempts: this.refusedCount + this.admittedCount + this.unexpectedCount,
      refused: this.refusedCount,
      admitted_wrongly: this.admittedCount,
      unexpected: this.unexpectedCount,
      detail: parts.join(' | '),
    };
  }
}
