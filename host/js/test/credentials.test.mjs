// Extra credentials (contract 0.3.1, `http.send-with` / `add-credentials`),
// mirroring `attach_extra` in host/src/capabilities/http.rs and its tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attachExtra, attachSecrets, basicHeader, checkHeaders, HttpError, MAX_EXTRA_CREDENTIALS,
} from '../src/policy.js';

const SECRETS = { api_key: 'k-1', app_key: 'a-2', password: 'p:w d', colon_user: 'us:er', token: 't 1&x' };
const get = (n) => SECRETS[n];

/** A wire request as `attachSecrets` leaves it. */
function wire({ url = 'https://a.example.com/t', headers = [], body = '' } = {}) {
  return { method: 'POST', url: new URL(url), headers: headers.map((h) => [...h]), body: Buffer.from(body) };
}

const refused = (reason) => (e) => e instanceof HttpError && e.tag === 'invalid-request' && reason(e.val);

test('header credential: another `name: prefix+secret` after auth', () => {
  const out = attachExtra(wire({ headers: [['authorization', 'Bearer x']] }), [
    { tag: 'header', val: { name: 'DD-APPLICATION-KEY', prefix: '', secret: 'app_key' } },
    { tag: 'header', val: { name: 'x-token', prefix: 'Token ', secret: 'token' } },
  ], get);
  assert.deepEqual(out.headers, [['authorization', 'Bearer x'], ['DD-APPLICATION-KEY', 'a-2'], ['x-token', 'Token t 1&x']]);
  assert.deepEqual(checkHeaders(out.headers)[1], ['dd-application-key', 'a-2']);
  for (const bad of ['Host', 'x y', 'x:y', 'x\r\ny']) {
    assert.throws(() => attachExtra(wire(), [{ tag: 'header', val: { name: bad, prefix: '', secret: 'api_key' } }], get),
      refused((v) => v === `bad header name \`${bad}\``), bad);
  }
  assert.throws(() => attachExtra(wire(), [{ tag: 'header', val: { name: 'x-k', prefix: '', secret: 'nope' } }], get),
    refused((v) => v === 'secret `nope` is not set'));
});

test('query credential: another form-encoded `name=secret`', () => {
  const out = attachExtra(wire({ url: 'https://a.example.com/t?x=1' }), [
    { tag: 'query', val: { name: 'api key', secret: 'token' } },
  ], get);
  assert.equal(out.url.href, 'https://a.example.com/t?x=1&api+key=t+1%26x');
  const bare = attachExtra(wire(), [{ tag: 'query', val: { name: 'k', secret: 'api_key' } }], get);
  assert.equal(bare.url.href, 'https://a.example.com/t?k=k-1');
  assert.throws(() => attachExtra(wire(), [{ tag: 'query', val: { name: 'k', secret: 'missing' } }], get),
    refused((v) => v === 'secret `missing` is not set'));
});

test('basic credential: raw user:password from secrets, replacing any authorization', () => {
  const out = attachExtra(wire({ headers: [['Authorization', 'Bearer x'], ['accept', 'a/b']] }), [
    { tag: 'basic', val: { usernameSecret: 'api_key', passwordSecret: undefined } },
  ], get);
  // The key as the user name, an empty password; the Bearer replaced.
  assert.deepEqual(out.headers, [['accept', 'a/b'], ['authorization', basicHeader('k-1', '', 'raw')]]);
  assert.equal(Buffer.from(out.headers[1][1].slice(6), 'base64').toString(), 'k-1:');
  const withPw = attachExtra(wire(), [{ tag: 'basic', val: { usernameSecret: 'app_key', passwordSecret: 'password' } }], get);
  // Raw: no form-encoding of either part.
  assert.equal(Buffer.from(withPw.headers[0][1].slice(6), 'base64').toString(), 'a-2:p:w d');
  // A user name holding `:` cannot be sent (RFC 7617); the secret is named, never valued.
  assert.throws(() => attachExtra(wire(), [{ tag: 'basic', val: { usernameSecret: 'colon_user' } }], get),
    refused((v) => v.includes('`colon_user`') && v.includes('RFC 7617') && !v.includes('us:er')));
  assert.throws(() => attachExtra(wire(), [{ tag: 'basic', val: { usernameSecret: 'nope' } }], get),
    refused((v) => v === 'secret `nope` is not set'));
  assert.throws(() => attachExtra(wire(), [{ tag: 'basic', val: { usernameSecret: 'api_key', passwordSecret: 'nope_pw' } }], get),
    refused((v) => v === 'secret `nope_pw` is not set'));
});

test('json credential: a string member at an RFC 6901 pointer of the JSON body', () => {
  const out = attachExtra(wire({ body: '{"auth":{"user":"u"},"a/b":{}}' }), [
    { tag: 'json', val: { pointer: '/auth/secret', secret: 'app_key' } },
    { tag: 'json', val: { pointer: '/a~1b/k~0', secret: 'api_key' } },
  ], get);
  assert.deepEqual(JSON.parse(Buffer.from(out.body).toString()), { auth: { user: 'u', secret: 'a-2' }, 'a/b': { 'k~': 'k-1' } });
  // Written as the Rust host writes it: compact, keys in order.
  assert.equal(Buffer.from(out.body).toString(), '{"a/b":{"k~":"k-1"},"auth":{"secret":"a-2","user":"u"}}');
  const top = attachExtra(wire({ body: ' {"x":1} ' }), [{ tag: 'json', val: { pointer: '/x', secret: 'token' } }], get);
  assert.equal(Buffer.from(top.body).toString(), '{"x":"t 1&x"}');
  const inArray = attachExtra(wire({ body: '{"l":[{},{}]}' }), [{ tag: 'json', val: { pointer: '/l/1/k', secret: 'api_key' } }], get);
  assert.equal(Buffer.from(inArray.body).toString(), '{"l":[{},{"k":"k-1"}]}');
  const proto = attachExtra(wire({ body: '{}' }), [{ tag: 'json', val: { pointer: '/__proto__', secret: 'api_key' } }], get);
  assert.equal(Buffer.from(proto.body).toString(), '{"__proto__":"k-1"}');

  const json = (body, pointer, secret = 'api_key') => () =>
    attachExtra(wire({ body }), [{ tag: 'json', val: { pointer, secret } }], get);
  // Not a JSON body: empty, text, a form.
  for (const body of ['', 'hello', 'a=1&b=2', '{"x":']) {
    assert.throws(json(body, '/x'), refused((v) => v.startsWith('a json credential needs a JSON body')), JSON.stringify(body));
  }
  // The parent must exist and be an object.
  for (const [body, pointer, parent] of [['{"a":"s"}', '/a/b', '/a'], ['[1]', '/0', ''], ['{}', '/no/k', '/no'], ['{"l":[{}]}', '/l/01/k', '/l/01']]) {
    assert.throws(json(body, pointer), refused((v) => v === `the JSON body has no object at \`${parent}\` for \`${pointer}\``), pointer);
  }
  assert.throws(json('{}', 'x'), refused((v) => v === '`x` is not a JSON pointer'));
  assert.throws(json('{}', '/k', 'nope'), refused((v) => v === 'secret `nope` is not set'));
});

test('credentials follow `auth` in order; the limit is the Rust host\'s', () => {
  assert.equal(MAX_EXTRA_CREDENTIALS, 8);
  const url = new URL('https://a.example.com/t');
  const base = attachSecrets({
    method: 'post', url: url.href, headers: [['content-type', 'application/json']],
    auth: { tag: 'header', val: { name: 'authorization', prefix: 'Bearer ', secret: 'token' } },
    body: { tag: 'bytes', val: Buffer.from('{"creds":{}}') },
  }, url, get);
  const out = attachExtra(base, [
    { tag: 'json', val: { pointer: '/creds/key', secret: 'api_key' } },
    { tag: 'basic', val: { usernameSecret: 'api_key' } },
    { tag: 'header', val: { name: 'x-app', prefix: '', secret: 'app_key' } },
  ], get);
  assert.deepEqual(checkHeaders(out.headers), [
    ['content-type', 'application/json'], ['authorization', basicHeader('k-1', '', 'raw')], ['x-app', 'a-2'],
  ]);
  assert.equal(Buffer.from(out.body).toString(), '{"creds":{"key":"k-1"}}');
});
