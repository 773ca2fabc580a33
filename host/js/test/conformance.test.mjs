// The conformance suite (tests/conformance/cases.json) run by the JavaScript
// host, against the same fake provider (`connhost-fakes`) as the Rust host
// (tests/all/conformance.rs). Normalization and judging mirror that runner.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Connector, ConnectorError, MemorySecrets } from '../src/index.js';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const casesPath = path.resolve(pkg, '../../tests/conformance/cases.json');
const fakesPath = process.env.CONNHOST_FAKES ?? path.resolve(pkg, '../../target/debug/connhost-fakes');
const componentsDir = process.env.CONNHOST_COMPONENTS ?? path.resolve(pkg, '../../target/components');

async function startFakes() {
  const child = spawn(fakesPath, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    rl.once('line', resolve);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`connhost-fakes exited (${code}) before it was ready`)));
  });
  rl.on('line', () => {});
  return { child, info: JSON.parse(first) };
}

function errorJson(e) {
  if (e instanceof ConnectorError) return { kind: e.kind, payload: e.payload ?? null };
  return { kind: 'runtime', payload: String(e?.message ?? e) };
}

/** `expected` is a subset of `actual`: objects by key (a null expected value only asks for the key), else equal. */
function subset(expected, actual) {
  if (isObject(expected) && isObject(actual)) {
    return Object.entries(expected).every(([k, v]) =>
      Object.prototype.hasOwnProperty.call(actual, k) && (v === null || subset(v, actual[k])));
  }
  return deepEqual(expected, actual);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepEqual(a, b) {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

async function runCase(connector, c) {
  const fields = c.fields ?? {};
  const secrets = new MemorySecrets(c.secrets ?? {});
  const connection = {
    id: 'conn_conformance', fields, grantedScopes: [], expiresAt: null,
    definitionOrigins: c.definition_origins ?? [],
  };
  let result;
  try {
    let value;
    switch (c.call) {
      case 'manifest': {
        const m = connector.manifest();
        value = {
          id: m.id, display_name: m.display_name, version: m.version, auth_field: m.auth_field,
          hosts: m.hosts, scopes: m.scopes.map((s) => s.name), origin_patterns: m.origin_patterns,
        };
        break;
      }
      case 'verify':
        value = { account_label: (await connector.verify(connection, secrets)).account_label };
        break;
      case 'create':
        value = await connector.create(connection, secrets);
        break;
      case 'refresh':
        value = await connector.refresh(connection, secrets);
        break;
      case 'validate_scopes':
        value = await connector.validateScopes(c.required ?? [], c.granted ?? []);
        break;
      case 'revoke':
        value = await connector.revoke(connection, secrets);
        break;
      case 'allowed_origins':
        value = await connector.allowedOrigins(connection, secrets);
        break;
      case 'authorize_url': {
        const a = c.authorize;
        const got = await connector.authorizeUrl(connection, secrets, {
          redirectUri: a.redirect_uri, state: a.state, codeChallenge: a.code_challenge, scopes: a.scopes,
        });
        const url = new URL(got.url);
        value = { origin: url.origin, path: url.pathname, query: Object.fromEntries(url.searchParams), fields: got.fields };
        break;
      }
      case 'exchange_code': {
        const x = c.exchange;
        value = await connector.exchangeCode(connection, secrets, {
          code: x.code, redirectUri: x.redirect_uri, codeVerifier: x.code_verifier, requestedScopes: x.requested_scopes,
        });
        break;
      }
      case 'request': {
        const r = await connector.request(connection, secrets, { method: c.request.method, url: c.request.url });
        value = { status: r.status };
        break;
      }
      default:
        throw new Error(`unknown call ${c.call}`);
    }
    result = { ok: value ?? null };
  } catch (e) {
    result = { error: errorJson(e) };
  }
  return { out: JSON.parse(JSON.stringify(result)), names: secrets.names() };
}

function judge(c, out, names) {
  const expect = c.expect;
  if (Object.prototype.hasOwnProperty.call(expect, 'ok')) {
    const ok = expect.ok;
    const has = Object.prototype.hasOwnProperty.call(out, 'ok');
    const v = out.ok;
    if (!(has && ((ok === null && v === null) || (ok !== null && subset(ok, v))))) {
      return `expected ok ${JSON.stringify(ok)}, got ${JSON.stringify(out)}`;
    }
  } else {
    const kind = expect.error;
    if (out.error?.kind !== kind) return `expected error ${JSON.stringify(kind)}, got ${JSON.stringify(out)}`;
    if (Object.prototype.hasOwnProperty.call(expect, 'payload') && !subset(expect.payload, out.error.payload)) {
      return `expected payload ${JSON.stringify(expect.payload)}, got ${JSON.stringify(out)}`;
    }
  }
  if (c.secrets_after) {
    if (!deepEqual(c.secrets_after, names)) {
      return `expected secrets ${JSON.stringify(c.secrets_after)}, held ${JSON.stringify(names)}`;
    }
  }
  return null;
}

test('the JavaScript host passes the conformance suite', async () => {
  const suite = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  const { child, info } = await startFakes();
  const connectors = new Map();
  const failures = [];
  try {
    const connectTo = info.connect_to;
    for (const c of suite.cases) {
      const host = c.host ?? {};
      const component = c.component ?? suite.component;
      const key = component + JSON.stringify(host);
      if (!connectors.has(key)) {
        connectors.set(key, await Connector.load(path.join(componentsDir, `${component}.wasm`), {
          caPem: info.ca_pem,
          connectTo,
          ...(host.max_body_bytes != null ? { maxBodyBytes: host.max_body_bytes } : {}),
          ...(host.max_timeout_ms != null ? { maxTimeoutMs: host.max_timeout_ms } : {}),
        }));
      }
      const { out, names } = await runCase(connectors.get(key), c);
      const why = judge(c, out, names);
      if (why === null) {
        console.log(`ok    ${c.name}`);
      } else {
        console.log(`FAIL  ${c.name}: ${why}`);
        failures.push(c.name);
      }
    }
    console.log(`js host: ${suite.cases.length - failures.length} of ${suite.cases.length} cases pass`);
  } finally {
    for (const c of connectors.values()) await c.close();
    child.stdin.end();
    await new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      const t = setTimeout(() => { child.kill(); resolve(); }, 5000);
      child.once('exit', () => { clearTimeout(t); resolve(); });
    });
  }
  assert.deepEqual(failures, []);
});
