import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The client side of SCRAM-SHA-512 (RFC 5802, as Kafka speaks it: no channel binding, `n,,`), and
 * the salted password a broker stores for a user. Pure functions of their inputs; the nonce and
 * salt come in as parameters, so a test can replay the RFC's steps.
 */
const HASH = 'sha512';
const KEY_BYTES = 64;

const hmac = (key: Buffer, text: string): Buffer => createHmac(HASH, key).update(text, 'utf8').digest();

/** Hi() of RFC 5802: PBKDF2 with HMAC-SHA-512. */
export function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, KEY_BYTES, HASH);
}

/** What a broker stores for a SCRAM user (AlterUserScramCredentials sends the salted password). */
export function scramCredential(password: string, iterations = 8192, salt: Buffer = randomBytes(32)): { salt: Buffer; iterations: number; saltedPassword: Buffer } {
  return { salt, iterations, saltedPassword: saltedPassword(password, salt, iterations) };
}

const escapeName = (name: string): string => name.replace(/=/g, '=3D').replace(/,/g, '=2C');

export class ScramError extends Error {}

/** One login: first() → the client-first message; final(serverFirst) → client-final; verify(serverFinal). */
export class ScramClient {
  private readonly clientFirstBare: string;
  private authMessage = '';
  private serverKey: Buffer | null = null;

  constructor(
    private readonly username: string,
    private readonly password: string,
    private readonly nonce: string = randomBytes(24).toString('base64url'),
  ) {
    this.clientFirstBare = `n=${escapeName(username)},r=${nonce}`;
  }

  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  final(serverFirst: string): string {
    const fields = parseFields(serverFirst);
    const nonce = fields.get('r');
    const salt = fields.get('s');
    const iterations = Number(fields.get('i'));
    if (fields.has('e')) throw new ScramError(`the broker refused the login: ${fields.get('e')}`);
    if (!nonce?.startsWith(this.nonce) || salt === undefined || !Number.isInteger(iterations) || iterations < 1) {
      throw new ScramError('the broker answered the SCRAM login with a malformed first message');
    }
    const salted = saltedPassword(this.password, Buffer.from(salt, 'base64'), iterations);
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash(HASH).update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    this.authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, this.authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ signature[i]!;
    this.serverKey = hmac(salted, 'Server Key');
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the broker's signature: a server that does not know the password cannot produce it. */
  verify(serverFinal: string): void {
    const fields = parseFields(serverFinal);
    if (fields.has('e')) throw new ScramError(`the broker refused the login: ${fields.get('e')}`);
    const expected = hmac(this.serverKey ?? Buffer.alloc(0), this.authMessage);
    const given = Buffer.from(fields.get('v') ?? '', 'base64');
    if (this.serverKey === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ScramError(`the broker's SCRAM signature for '${this.username}' does not match: not the broker that holds this user`);
    }
  }
}

function parseFields(message: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of message.split(',')) {
    const equals = part.indexOf('=');
    if (equals > 0) fields.set(part.slice(0, equals), part.slice(equals + 1));
  }
  return fields;
}
