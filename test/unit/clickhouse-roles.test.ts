import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { CLICKHOUSE_18_16, capabilitiesFrom } from '../../src/clickhouse/capabilities.ts';
import { CLICKHOUSE_ROLES, asRole } from '../../src/clickhouse/roles.ts';
import { roleUserStatements, supportsSqlUsers } from '../../src/clickhouse/users.ts';
import { loadConfig } from '../../src/config/load.ts';
import { usersXml } from '../../src/stack/clickhouse.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * ClickHouse users per role: which user each role logs in as, the users.xml of the local 18.16
 * server, and the CREATE USER / GRANT statements migrate runs on servers with SQL users. Nobody is
 * `default`: not in the schema's defaults, not in any client the code creates.
 */
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const withPasswords = () =>
  loadConfig({ env: {}, overrides: { clickhouse: { password: 'ingest-pw', roles: { reader: { password: 'reader-pw' }, admin: { password: 'admin-pw' } } } } }).clickhouse;

test('each role has its own user by default, none of them default', () => {
  const clickhouse = loadConfig({ env: {} }).clickhouse;
  const users = CLICKHOUSE_ROLES.map((role) => asRole(clickhouse, role).username);
  assert.deepEqual(users, ['ingest', 'reader', 'admin']);
  assert.ok(!users.includes('default'));
});

test('asRole swaps only the user and password', () => {
  const clickhouse = withPasswords();
  const reader = asRole(clickhouse, 'reader');
  assert.deepEqual({ ...reader, username: clickhouse.username, password: clickhouse.password }, clickhouse);
  assert.deepEqual([reader.username, reader.password], ['reader', 'reader-pw']);
  assert.equal(asRole(clickhouse, 'ingest'), clickhouse);
});

test('SQL users exist from 20.5 on; 18.16 keeps them in users.xml', () => {
  assert.equal(supportsSqlUsers(CLICKHOUSE_18_16), false);
  assert.equal(supportsSqlUsers(capabilitiesFrom('20.4.9', new Set(), new Set())), false);
  assert.equal(supportsSqlUsers(capabilitiesFrom('20.5.1', new Set(), new Set())), true);
  assert.equal(supportsSqlUsers(capabilitiesFrom('25.8.2.29', new Set(), new Set())), true);
});

test('migrate creates the ingest user with SELECT and INSERT, the reader with SELECT and readonly = 1, passwords as SHA-256 only', () => {
  const plan = roleUserStatements(withPasswords(), 'telemetry');
  assert.deepEqual(plan.skipped, []);
  assert.deepEqual(plan.statements, [
    `CREATE USER IF NOT EXISTS \`ingest\` IDENTIFIED WITH sha256_hash BY '${sha256('ingest-pw')}'`,
    `ALTER USER \`ingest\` IDENTIFIED WITH sha256_hash BY '${sha256('ingest-pw')}'`,
    'GRANT SELECT, INSERT ON `telemetry`.* TO `ingest`',
    `CREATE USER IF NOT EXISTS \`reader\` IDENTIFIED WITH sha256_hash BY '${sha256('reader-pw')}' SETTINGS readonly = 1`,
    `ALTER USER \`reader\` IDENTIFIED WITH sha256_hash BY '${sha256('reader-pw')}' SETTINGS readonly = 1`,
    'GRANT SELECT ON `telemetry`.* TO `reader`',
  ]);
  assert.ok(!plan.statements.join('\n').includes('-pw'), 'no plaintext password in a statement (the query log keeps them)');
});

test('a role with no password, or named default or like the admin, gets no user', () => {
  const base = withPasswords();
  assert.deepEqual(roleUserStatements({ ...base, password: '' }, 'telemetry').skipped, ['ingest']);
  assert.deepEqual(roleUserStatements({ ...base, username: 'default' }, 'telemetry').skipped, ['ingest']);
  assert.deepEqual(roleUserStatements({ ...base, roles: { ...base.roles, reader: { username: 'admin', password: 'x' } } }, 'telemetry').skipped, ['reader']);
});

test("the local server's users.xml: a user per role with its profile, passwords only as SHA-256, default locked", () => {
  const secrets = { gatewayKey: 'k', clickhouse: { ingest: 'ingest-secret', reader: 'reader-secret', admin: 'admin-secret', defaultUserHash: sha256('nobody') } };
  const xml = usersXml('', secrets);
  for (const [user, profile] of [['ingest', 'ingest'], ['reader', 'reader'], ['admin', 'default']] as const) {
    const block = new RegExp(`<${user}>\\s*<password_sha256_hex>([0-9a-f]{64})</password_sha256_hex>[\\s\\S]*?<profile>${profile}</profile>`).exec(xml.split('<users>')[1]!);
    assert.equal(block?.[1], sha256(secrets.clickhouse[user]), user);
  }
  assert.match(xml, /<default>\s*<password_sha256_hex>[0-9a-f]{64}<\/password_sha256_hex>/, 'default has a password nobody holds');
  assert.doesNotMatch(xml, /<password>/, 'no plaintext password element, empty or not');
  assert.doesNotMatch(xml, /-secret/);
  assert.match(xml, /<reader>\s*<max_memory_usage>\d+<\/max_memory_usage>\s*<readonly>1<\/readonly>/);
  assert.match(xml, /<ingest>\s*<max_memory_usage>\d+<\/max_memory_usage>\s*<allow_ddl>0<\/allow_ddl>/);
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('no code path logs in as default: every @clickhouse/client createClient names a role user, and no source names user default', () => {
  const files = ['src', 'edge', 'loadtest', 'test', 'deploy'].flatMap((dir) => sources(join(REPO_ROOT, dir)));
  const offenders: string[] = [];
  for (const file of files) {
    if (file.endsWith('clickhouse-roles.test.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/createClient\(\{([^}]*)\}/g)) {
      if (!/roleCredentials\(|username:/.test(match[1]!)) offenders.push(`${relative(REPO_ROOT, file)}: createClient without a role's user`);
    }
    if (/username:\s*'default'/.test(text)) offenders.push(`${relative(REPO_ROOT, file)}: username 'default'`);
  }
  assert.deepEqual(offenders, []);
});
