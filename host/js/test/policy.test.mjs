// Unit tests of the outbound policy (mirrors host/policy and host/src/capabilities/http.rs tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allowlistFromTemplates, expandTemplate, basicHeader, attachSecrets, checkHeaders, originOf,
  parseBareOrigin, isPublicAddress, HttpError, RESERVED_HEADERS, TemplateError,
} from '../src/policy.js';

const T = ['https://{domain}'];

test('allowlist expands templates into exact origins', () => {
  const a = allowlistFromTemplates(T, { domain: 'acme.eu-1.celonis.cloud' });
  assert.deepEqual(a, ['https://acme.eu-1.celonis.cloud:443']);
  assert.ok(a.includes(originOf('https://ACME.eu-1.celonis.cloud:443/x?y=1')));
  for (const other of ['https://evil.example.com/', 'https://acme.eu-1.celonis.cloud:8443/',
    'http://acme.eu-1.celonis.cloud/', 'https://x.acme.eu-1.celonis.cloud/', 'https://acme.eu-1.celonis.cloud.evil.com/']) {
    assert.ok(!a.includes(originOf(other)), other);
  }
  assert.deepEqual(allowlistFromTemplates(T, { domain: 'https://acme.eu-1.celonis.cloud/' }),
    ['https://acme.eu-1.celonis.cloud:443']);
});

test('allowlist refuses field values that smuggle hosts or paths', () => {
  for (const bad of ['evil.com/x', 'evil.com/acme.eu-1.celonis.cloud', 'user@evil.com', 'evil.com:444',
    'evil.com?x', 'evil.com#frag', '', ' ']) {
    assert.throws(() => expandTemplate(T[0], { domain: bad }), TemplateError, JSON.stringify(bad));
    assert.deepEqual(allowlistFromTemplates(T, { domain: bad }), [], JSON.stringify(bad));
  }
  assert.deepEqual(allowlistFromTemplates(T, {}), []);
  assert.deepEqual(allowlistFromTemplates(['http://{domain}'], { domain: 'a.b' }), []);
});

test('added origins must be bare https', () => {
  assert.equal(parseBareOrigin('https://api.github.com'), 'https://api.github.com:443');
  for (const bad of ['http://x.com', 'https://x.com/path', 'https://u@x.com', 'https://x.com?q', 'x.com', 'https://x.com#f']) {
    assert.throws(() => parseBareOrigin(bad), TemplateError, bad);
  }
});

test('Basic is form-urlencoded per RFC 6749 §2.3.1, raw on request', () => {
  const h = basicHeader('demo-client', 'demo:secret/+%&=x');
  const decoded = Buffer.from(h.replace(/^Basic /, ''), 'base64').toString();
  assert.equal(decoded, 'demo-client:demo%3Asecret%2F%2B%25%26%3Dx');
  const h2 = Buffer.from(basicHeader('a b', 's:e/c').slice(6), 'base64').toString();
  assert.equal(h2, 'a+b:s%3Ae%2Fc');
  assert.equal(basicHeader('id', 's:e', 'raw'), 'Basic aWQ6czpl');
  const keep = Buffer.from(basicHeader('*-._~', 'x').slice(6), 'base64').toString();
  assert.equal(keep, '*-._%7E:x');
});

test('secrets are attached by name; a missing one is named, never valued', () => {
  const secrets = { client_secret: 'demo:secret/+%&=x', api_key: 'k 1' };
  const get = (n) => secrets[n];
  const url = new URL('https://a.example.com/token?x=1');
  const out = attachSecrets({
    method: 'post', url: url.href, headers: [['Content-Type', 'text/plain']],
    auth: { tag: 'query', val: { name: 'api_key', secret: 'api_key' } },
    body: { tag: 'form', val: [['grant_type', { tag: 'text', val: 'client_credentials' }], ['client_secret', { tag: 'secret', val: 'client_secret' }]] },
  }, url, get);
  assert.equal(out.method, 'POST');
  assert.equal(out.url.href, 'https://a.example.com/token?x=1&api_key=k+1');
  assert.deepEqual(out.headers, [['content-type', 'application/x-www-form-urlencoded']]);
  assert.equal(Buffer.from(out.body).toString(), 'grant_type=client_credentials&client_secret=demo%3Asecret%2F%2B%25%26%3Dx');
  const hdr = attachSecrets({ method: 'get', url: url.href, headers: [], auth: { tag: 'header', val: { name: 'authorization', prefix: 'AppKey ', secret: 'api_key' } }, body: { tag: 'empty' } }, url, get);
  assert.deepEqual(hdr.headers, [['authorization', 'AppKey k 1']]);
  assert.throws(
    () => attachSecrets({ method: 'get', url: url.href, headers: [], auth: { tag: 'header', val: { name: 'authorization', prefix: 'Bearer ', secret: 'access_token' } }, body: { tag: 'empty' } }, url, get),
    (e) => e instanceof HttpError && e.tag === 'invalid-request' && e.val === 'secret `access_token` is not set',
  );
});

test('reserved headers are refused; bad values are not echoed', () => {
  for (const name of RESERVED_HEADERS) {
    assert.throws(() => checkHeaders([[name.toUpperCase(), 'x']]),
      (e) => e.tag === 'invalid-request' && e.val === `header \`${name}\` is set by the host`, name);
  }
  assert.deepEqual(checkHeaders([['X-Ok', 'v']]), [['x-ok', 'v']]);
  assert.throws(() => checkHeaders([['x-a', 'hunter2\r\nx: y']]),
    (e) => e.tag === 'invalid-request' && !e.val.includes('hunter2'));
});

test('only public addresses are reachable without connectTo', () => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '169.254.169.254', '100.64.0.1', '::1', '::', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '64:ff9b::a00:1', '2002:7f00:1::']) {
    assert.equal(isPublicAddress(ip), false, ip);
  }
  for (const ip of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    assert.equal(isPublicAddress(ip), true, ip);
  }
});
