// The `signing` import (contract 0.3.2) at the function level, with the
// fixed vectors of host/src/capabilities/signing.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, verify } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  sign, sigv4, signWithSecret, sigv4WithSecret, signingImports, SigningKeyError, MAX_MESSAGE_BYTES,
  oauth1, oauth1Encode, oauth1WithSecrets,
} from '../src/signing.js';

const probeWat = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../tests/conformance/signing-probe.wat');
const STS = 'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63';

const hex = (b) => Buffer.from(b).toString('hex');
const pem = (k) => k.export({ format: 'pem', type: 'pkcs8' });

test('HMAC matches RFC 2202 case 2 (SHA-1) and RFC 4231 case 2 (SHA-256)', () => {
  const m = Buffer.from('what do ya want for nothing?');
  assert.equal(hex(sign('hmac-sha1', 'Jefe', m)), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
  assert.equal(hex(sign('hmac-sha256', 'Jefe', m)), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  // Keyed with the secret's UTF-8 bytes.
  assert.equal(hex(sign('hmac-sha256', 'ключ', m)), createHmac('sha256', Buffer.from('ключ', 'utf8')).update(m).digest('hex'));
  assert.equal(hex(sign('hmac-sha1', 'Jefe', 'what do ya want for nothing?')), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
});

test('sign-oauth1 matches RFC 5849 §1.2 with the key built from both secrets', () => {
  const base = 'GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal';
  assert.equal(oauth1('hmac-sha1', 'kd94hf93k423kf44', 'pfkkdhi9sl3r4s00', base), 'tR3+Ty81lMeYAr/Fid0kMTYa/WM=');
  assert.equal(oauth1('hmac-sha1', 'c', undefined, base), oauth1('hmac-sha1', 'c', '', base));
  assert.notEqual(oauth1('hmac-sha1', 'a&b', undefined, base), oauth1('hmac-sha1', 'a', 'b', base));
  assert.equal(oauth1Encode('a b&c=d/é~'), 'a%20b%26c%3Dd%2F%C3%A9~');
  const secrets = { cs: 'kd94hf93k423kf44', ts: 'pfkkdhi9sl3r4s00' };
  assert.deepEqual(oauth1WithSecrets((n) => secrets[n], 'hmac-sha1', 'cs', 'ts', base), { ok: 'tR3+Ty81lMeYAr/Fid0kMTYa/WM=' });
  assert.deepEqual(oauth1WithSecrets((n) => secrets[n], 'hmac-sha1', 'cs', 'missing', base), { err: { tag: 'unknown-secret', val: 'missing' } });
  assert.equal(oauth1WithSecrets((n) => secrets[n], 'rs256', 'cs', 'ts', base).err.tag, 'bad-key');
  assert.throws(() => signingImports((n) => secrets[n]).signOauth1('hmac-sha1', 'nope', undefined, base), (e) => e.payload.tag === 'unknown-secret');
});

test('SigV4 matches AWS\'s published example', () => {
  const stringToSign = STS;
  assert.equal(sigv4('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20150830', 'us-east-1', 'service', stringToSign),
    '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  const secrets = { aws: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  assert.deepEqual(sigv4WithSecret((n) => secrets[n], 'aws', '20150830', 'us-east-1', 'service', stringToSign),
    { ok: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' });
  assert.deepEqual(sigv4WithSecret((n) => secrets[n], 'other', '20150830', 'us-east-1', 'service', stringToSign),
    { err: { tag: 'unknown-secret', val: 'other' } });
  assert.deepEqual(sigv4WithSecret((n) => secrets[n], 'aws', 'd', 'r', 's', 'x'.repeat(MAX_MESSAGE_BYTES + 1)),
    { err: { tag: 'bad-key', val: 'the string to sign is too large' } });
});

test('RS256 is RSASSA-PKCS1-v1_5 SHA-256 with a PEM PKCS#8 key', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const message = Buffer.from('header.payload');
  const sig = sign('rs256', pem(privateKey), message);
  assert.equal(sig.length, 256);
  assert.ok(verify('sha256', message, publicKey, sig));
  // PKCS1 v1.5 is deterministic.
  assert.deepEqual(sign('rs256', pem(privateKey), message), sig);
  assert.ok(!verify('sha256', Buffer.from('other'), publicKey, sig));
});

test('ES256 is ECDSA P-256 SHA-256 in the 64-byte r||s form', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = Buffer.from('header.payload');
  const sig = sign('es256', pem(privateKey), message);
  assert.equal(sig.length, 64);
  assert.ok(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  assert.ok(!verify('sha256', Buffer.from('other'), { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
});

test('a bad key is refused with a reason that never shows it', () => {
  const ec = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const p384 = pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey);
  const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const rsa = pem(rsaKey);
  const pkcs1 = rsaKey.export({ format: 'pem', type: 'pkcs1' });
  const small = pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
  const garbled = '-----BEGIN PRIVATE KEY-----\nhunter2hunter2hunter2AAA\n-----END PRIVATE KEY-----\n';
  const cases = [
    ['rs256', 'hunter2-not-a-key', 'expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block'],
    ['es256', 'hunter2-not-a-key', 'expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block'],
    ['rs256', pkcs1, 'expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block'],
    ['rs256', '-----BEGIN PRIVATE KEY-----\nhunter2!!\n-----END PRIVATE KEY-----', 'the PEM block is not base64'],
    ['rs256', garbled, 'not an RSA PKCS#8 private key (InvalidEncoding)'],
    ['rs256', ec, 'not an RSA PKCS#8 private key (WrongAlgorithm)'],
    ['rs256', small, 'not an RSA PKCS#8 private key (TooSmall)'],
    ['es256', rsa, 'not a P-256 PKCS#8 private key (WrongAlgorithm)'],
    ['es256', p384, 'not a P-256 PKCS#8 private key (WrongAlgorithm)'],
  ];
  for (const [alg, key, reason] of cases) {
    assert.throws(() => sign(alg, key, Buffer.from('m')), (e) => e instanceof SigningKeyError && e.message === reason, reason);
    const r = signWithSecret((n) => (n === 'k' ? key : undefined), 'k', alg, Buffer.from('m'));
    assert.deepEqual(r, { err: { tag: 'bad-key', val: `secret \`k\`: ${reason}` } });
    assert.ok(!r.err.val.includes('hunter2'));
    assert.ok(!r.err.val.includes(key.split('\n')[1]));
  }
});

test('the sign import: ok, unknown-secret by name, the message cap', () => {
  const secrets = { hmac: 'Jefe' };
  const get = (n) => secrets[n];
  const m = new TextEncoder().encode('what do ya want for nothing?');
  assert.equal(hex(signWithSecret(get, 'hmac', 'hmac-sha1', m).ok), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
  assert.ok(signWithSecret(get, 'hmac', 'hmac-sha256', m).ok instanceof Uint8Array);
  assert.deepEqual(signWithSecret(get, 'missing', 'hmac-sha256', m), { err: { tag: 'unknown-secret', val: 'missing' } });
  assert.deepEqual(signWithSecret(get, 'hmac', 'hmac-sha256', new Uint8Array(MAX_MESSAGE_BYTES + 1)),
    { err: { tag: 'bad-key', val: `the message is larger than ${MAX_MESSAGE_BYTES} bytes` } });
});

test('the import object works through wasm as jco calls it (names, enum, bytes, errors)', async () => {
  // A component that passes its exports' arguments to the signing import
  // (tests/conformance/signing-probe.wat), transpiled as the host does.
  const { parse, transpile } = await import('@bytecodealliance/jco');
  const out = await transpile(await parse(fs.readFileSync(probeWat, 'utf8')), {
    name: 'probe', instantiation: 'sync', noTypescript: true, quiet: true,
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'connhost-signing-probe-'));
  try {
    for (const [name, data] of Object.entries(out.files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), data);
    }
    const { instantiate } = await import(pathToFileURL(path.join(dir, 'probe.js')).href);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const secrets = { hmac: 'Jefe', aws: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', ec: pem(privateKey) };
    const used = [];
    const probe = instantiate((n) => new WebAssembly.Module(fs.readFileSync(path.join(dir, n))), {
      'connhost:connector/signing': signingImports((n) => secrets[n], (n, what) => used.push(`${n}:${what}`)),
    });
    const m = new TextEncoder().encode('what do ya want for nothing?');
    assert.equal(hex(probe.sign('hmac', 'hmac-sha1', m)), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    assert.equal(hex(probe.sign('hmac', 'hmac-sha256', m)), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    const sig = probe.sign('ec', 'es256', m);
    assert.equal(sig.length, 64);
    assert.ok(verify('sha256', m, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
    assert.equal(probe.signSigv4('aws', '20150830', 'us-east-1', 'service', STS),
      '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
    assert.throws(() => probe.sign('nope', 'hmac-sha256', m), (e) => e.payload?.tag === 'unknown-secret' && e.payload.val === 'nope');
    assert.throws(() => probe.sign('hmac', 'rs256', m),
      (e) => e.payload?.tag === 'bad-key' && e.payload.val === 'secret `hmac`: expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block');
    assert.throws(() => probe.signSigv4('nope', 'd', 'r', 's', 'x'), (e) => e.payload?.tag === 'unknown-secret');
    assert.deepEqual(used, ['hmac:hmac-sha1', 'hmac:hmac-sha256', 'ec:es256', 'aws:sigv4']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
