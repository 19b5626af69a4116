import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAME_PATTERN } from '../core/names.ts';
import type { StackConfig } from './config-schema.ts';
import { stackPaths } from './paths.ts';
import { StackError } from './processes.ts';

/**
 * The local stack's certificates, made with the openssl CLI on the first `stack up` under
 * `<stack.dataDir>/tls` (git-ignored, never committed):
 *
 *   ca.pem, ca.key          — the local CA (10 years); every local client trusts ca.pem by a `ca:` option
 *   server.pem, server.key  — 127.0.0.1 / localhost, signed by the CA: the bridges' HTTPS and MQTTS
 *                             listeners and Mosquitto's TLS listener
 *   devices/<tenant>.<device>.pem/.key — device client certificates, issued on demand
 *   kafka-keystore.pem      — Kafka's brokers (CN=kafka-broker): the PKCS#8 key and the chain in one
 *                             PEM, as Kafka's `ssl.keystore.type=PEM` reads it; server and client
 *                             use, since a broker also presents it to the controller quorum
 *
 * A device certificate names its device and tenant in its subject, CN=<device>, O=<tenant>: that is
 * the identity the bridge's MQTT endpoint reads (edge/mqtt-server/certificate-identity.ts). Keys are
 * P-256 and mode 0600. Development certificates: a deployment brings its own CA.
 */
export interface LocalTlsFiles {
  readonly dir: string;
  readonly caFile: string;
  readonly caKeyFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface DeviceCertificate {
  readonly certFile: string;
  readonly keyFile: string;
}

const CA_DAYS = 3650;
/** Below the 825 days some clients (Apple's) accept for a server certificate. */
const SERVER_DAYS = 825;
const DEVICE_DAYS = 365;

export function localTlsFiles(stack: StackConfig): LocalTlsFiles {
  const dir = join(stackPaths(stack).dataDir, 'tls');
  return { dir, caFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca.key'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server.key') };
}

/** The local CA's certificate (PEM), for a client's `ca:` option. */
export function localCa(stack: StackConfig): string {
  return readFileSync(localTlsFiles(stack).caFile, 'utf8');
}

/** Creates the CA and the server certificate unless they exist (idempotent); true when it made them. */
export function ensureLocalTls(stack: StackConfig): boolean {
  const files = localTlsFiles(stack);
  if (existsSync(files.caFile) && existsSync(files.caKeyFile) && existsSync(files.certFile) && existsSync(files.keyFile)) return false;
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  createCa(files.caFile, files.caKeyFile, 'telemetry-pipeline local CA');
  issue(files, { subject: '/CN=localhost', days: SERVER_DAYS, extensions: ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth'] }, files.certFile, files.keyFile);
  return true;
}

/** The subject of the local brokers' certificate: the principal of a broker on the mutual-TLS controller listener. */
export const KAFKA_BROKER_SUBJECT = 'CN=kafka-broker';

export interface KafkaTlsFiles {
  /** Key, certificate and CA certificate in one PEM file (ssl.keystore.location). */
  readonly keystoreFile: string;
  /** The CA every local client and broker trusts (ssl.truststore.location). */
  readonly caFile: string;
}

export function kafkaTlsFiles(stack: StackConfig): KafkaTlsFiles {
  const files = localTlsFiles(stack);
  return { keystoreFile: join(files.dir, 'kafka-keystore.pem'), caFile: files.caFile };
}

/**
 * The brokers' keystore, made (or remade when the addresses it must name changed: the ISOLATED
 * listener's address) from the local CA; true when it made one. A broker must be restarted to use
 * a new one.
 */
export function ensureKafkaTls(stack: StackConfig): boolean {
  ensureLocalTls(stack);
  const files = localTlsFiles(stack);
  const { keystoreFile } = kafkaTlsFiles(stack);
  const names = ['DNS:localhost', 'IP:127.0.0.1', ...(stack.isolatedKafkaAddress ? [`IP:${stack.isolatedKafkaAddress}`] : [])].join(',');
  const namesFile = `${keystoreFile}.names`;
  if (existsSync(keystoreFile) && existsSync(namesFile) && readFileSync(namesFile, 'utf8') === names) return false;
  const certFile = join(files.dir, 'kafka.pem');
  const keyFile = join(files.dir, 'kafka.key');
  try {
    issue(files, { subject: `/${KAFKA_BROKER_SUBJECT}`, days: SERVER_DAYS, extensions: [`subjectAltName=${names}`, 'extendedKeyUsage=serverAuth,clientAuth'] }, certFile, keyFile);
    // openssl 3 writes keys as PKCS#8 ("BEGIN PRIVATE KEY"), the only form Kafka's PEM keystore reads.
    const key = readFileSync(keyFile, 'utf8');
    if (!key.startsWith('-----BEGIN PRIVATE KEY-----')) throw new StackError('STACK_TLS_OPENSSL_FAILED', `openssl wrote ${keyFile} in a form other than PKCS#8, which Kafka's PEM keystore cannot read`);
    writeFileSync(keystoreFile, `${key}${readFileSync(certFile, 'utf8')}${readFileSync(files.caFile, 'utf8')}`, { mode: 0o600 });
    writeFileSync(namesFile, names);
  } finally {
    rmSync(keyFile, { force: true });
    rmSync(certFile, { force: true });
  }
  return true;
}

export interface DeviceCertificateOptions {
  readonly tenant: string;
  readonly device: string;
  /** Days of validity; a negative number makes a certificate that has already expired (for tests of the refusal). */
  readonly days?: number;
  /** Where to write it; by default `<dataDir>/tls/devices/<tenant>.<device>.pem/.key`. */
  readonly dir?: string;
  /** Another CA to sign with (its certificate and key files), e.g. an untrusted one; by default the local CA. */
  readonly ca?: { readonly caFile: string; readonly caKeyFile: string };
}

/** Issues a client certificate for one device of one tenant (CN=<device>, O=<tenant>), signed by the local CA. */
export function issueDeviceCertificate(stack: StackConfig, options: DeviceCertificateOptions): DeviceCertificate {
  for (const [what, name] of [['tenant', options.tenant], ['device', options.device]] as const) {
    if (!NAME_PATTERN.test(name)) throw new StackError('STACK_TLS_BAD_NAME', `${what} '${name}' is not a safe name (${NAME_PATTERN}); a device certificate names its device and tenant in its subject`);
  }
  const files = localTlsFiles(stack);
  const ca = options.ca ?? (ensureLocalTls(stack), files);
  const dir = options.dir ?? join(files.dir, 'devices');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const base = join(dir, `${options.tenant}.${options.device}`);
  const certificate = { certFile: `${base}.pem`, keyFile: `${base}.key` };
  issue(ca, { subject: `/O=${options.tenant}/CN=${options.device}`, days: options.days ?? DEVICE_DAYS, extensions: ['extendedKeyUsage=clientAuth'] }, certificate.certFile, certificate.keyFile);
  return certificate;
}

/** A CA of its own in `dir` (ca.pem, ca.key): for tests, a CA nobody configured. */
export function createStandaloneCa(dir: string, name: string): { caFile: string; caKeyFile: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { caFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca.key') };
  createCa(ca.caFile, ca.caKeyFile, name);
  return ca;
}

function createCa(certFile: string, keyFile: string, name: string): void {
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', String(CA_DAYS),
    '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  restrict(keyFile);
}

function issue(ca: { readonly caFile: string; readonly caKeyFile: string }, spec: { subject: string; days: number; extensions: readonly string[] }, certFile: string, keyFile: string): void {
  const request = `${certFile}.csr`;
  const extensions = `${certFile}.ext`;
  try {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', request, '-subj', spec.subject]);
    restrict(keyFile);
    writeFileSync(extensions, `${spec.extensions.join('\n')}\n`);
    // A random serial: two certificates of one CA must never share one, and no serial file is kept.
    const serial = `0x${execFileSync('openssl', ['rand', '-hex', '16'], { encoding: 'utf8' }).trim()}`;
    openssl(['x509', '-req', '-in', request, '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-set_serial', serial, '-days', String(spec.days), '-extfile', extensions, '-out', certFile]);
  } finally {
    rmSync(request, { force: true });
    rmSync(extensions, { force: true });
  }
}

function restrict(keyFile: string): void {
  chmodSync(keyFile, 0o600);
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new StackError(
      'STACK_TLS_OPENSSL_FAILED',
      missing ? 'openssl is not installed: the local stack makes its certificates with it (`apt-get install -y openssl`)' : `openssl ${args[0]} failed: ${stderr.split('\n').slice(-3).join(' ')}`,
      { command: `openssl ${args.slice(0, 2).join(' ')}` },
    );
  }
}
