import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { ScramClient, saltedPassword, scramCredential } from '../../src/kafka/wire/scram.ts';

/**
 * The SCRAM-SHA-512 client of the raw Kafka connection (topic configurations, ACLs, SCRAM users),
 * checked the way a broker checks it (RFC 5802 §3): the server keeps StoredKey = H(ClientKey) and
 * ServerKey, recovers ClientKey from the proof, and signs the exchange for the client to verify.
 */
const hmac = (key: Buffer, text: string): Buffer => createHmac('sha512', key).update(text).digest();

function broker(username: string, password: string, serverNonce = 'server-nonce') {
  const credential = scramCredential(password, 4096, Buffer.from('fixed salt'));
  const storedKey = createHash('sha512').update(hmac(credential.saltedPassword, 'Client Key')).digest();
  const serverKey = hmac(credential.saltedPassword, 'Server Key');
  let serverFirst = '';
  let clientFirstBare = '';
  return {
    first(clientFirst: string): string {
      clientFirstBare = clientFirst.slice('n,,'.length);
      assert.equal(/n=([^,]*)/.exec(clientFirstBare)?.[1], username.replace(/=/g, '=3D').replace(/,/g, '=2C'));
      const clientNonce = /r=([^,]*)/.exec(clientFirstBare)![1];
      serverFirst = `r=${clientNonce}${serverNonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
      return serverFirst;
    },
    final(clientFinal: string): string {
      const withoutProof = clientFinal.slice(0, clientFinal.indexOf(',p='));
      const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(',p=') + 3), 'base64');
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const signature = hmac(storedKey, authMessage);
      const clientKey = Buffer.from(proof.map((byte, i) => byte ^ signature[i]!));
      if (!createHash('sha512').update(clientKey).digest().equals(storedKey)) return 'e=invalid-proof';
      return `v=${hmac(serverKey, authMessage).toString('base64')}`;
    },
  };
}

test('a login with the right password is accepted by the broker and the broker proven to hold the user', () => {
  for (const username of ['bridge', 'odd,name=x']) {
    const server = broker(username, 'right password');
    const client = new ScramClient(username, 'right password', 'client-nonce');
    const serverFinal = server.final(client.final(server.first(client.first())));
    assert.match(serverFinal, /^v=/);
    assert.doesNotThrow(() => client.verify(serverFinal));
  }
});

test('a wrong password fails the proof, and a server that does not hold the password cannot sign', () => {
  const server = broker('bridge', 'right password');
  const client = new ScramClient('bridge', 'wrong password', 'client-nonce');
  assert.equal(server.final(client.final(server.first(client.first()))), 'e=invalid-proof');

  const impostor = broker('bridge', 'another password');
  const fooled = new ScramClient('bridge', 'right password', 'client-nonce');
  fooled.final(impostor.first(fooled.first()));
  const forged = `v=${hmac(saltedPassword('another password', Buffer.from('fixed salt'), 4096), 'x').toString('base64')}`;
  assert.throws(() => fooled.verify(forged), /does not match/);
  assert.throws(() => new ScramClient('bridge', 'p', 'abc').final('r=other,s=c2FsdA==,i=4096'), /malformed/);
});
