import type { SecurityCheck } from './check.ts';
import { clickhouseRoles } from './checks/clickhouse-roles.ts';
import { gatewayKeyRotation } from './checks/gateway-key-rotation.ts';
import { httpAuth } from './checks/http-auth.ts';
import { httpBodyLimit } from './checks/http-body-limit.ts';
import { httpRateLimit } from './checks/http-rate-limit.ts';
import { httpSlow } from './checks/http-slow.ts';
import { kafkaPrincipals } from './checks/kafka-principals.ts';
import { httpsRequired } from './checks/https-required.ts';
import { mosquittoAcl } from './checks/mosquitto-acl.ts';
import { mqttDirectAuth } from './checks/mqtt-direct-auth.ts';
import { mqttDirectRate } from './checks/mqtt-direct-rate.ts';
import { mqttDirectSlow } from './checks/mqtt-direct-slow.ts';
import { mqttDirectSubscribe } from './checks/mqtt-direct-subscribe.ts';
import { mqttDirectTopics } from './checks/mqtt-direct-topics.ts';
import { mqttTls } from './checks/mqtt-tls.ts';
import { secretsInLogs } from './checks/secrets-in-logs.ts';

/**
 * Every check of `npm run security-check`, in the order they run (the after-stop ones run last
 * whatever their place). Adding one: a file under checks/ exporting a SecurityCheck, and a line
 * here. A check that needs something the run may not have names it in `requires` (a Capability in
 * check.ts, which run.ts provides or marks missing with the reason); a check whose requirement is
 * missing by configuration is listed as skipped with that reason, never as passing.
 *
 * Still to add, one file each, as their pieces reach the local stack:
 *   mosquitto-tls         broker mode over the local Mosquitto's TLS listener: plaintext refused
 *                         there, a device certificate of another device's name refused by its ACL
 */
export const SECURITY_CHECKS: readonly SecurityCheck[] = [
  mqttDirectAuth,
  mqttDirectTopics,
  mqttDirectSubscribe,
  mqttDirectSlow,
  mqttDirectRate,
  mqttTls,
  mosquittoAcl,
  httpAuth,
  httpBodyLimit,
  httpSlow,
  httpRateLimit,
  gatewayKeyRotation,
  httpsRequired,
  clickhouseRoles,
  kafkaPrincipals,
  secretsInLogs,
];
