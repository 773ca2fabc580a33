// The `signing` import (contract 0.3.2), as the Rust host's
// host/src/capabilities/signing.rs: signatures made with a connection's
// secret by name, so the value never enters the component. Keys are parsed
// per call and dropped; errors never carry key material. Pure functions
// (node:crypto only), unit-tested in test/signing.test.mjs.

import { createHmac, createPrivateKey, sign as cryptoSign } from 'node:crypto';

/** Largest message one call signs (a string-to-sign or JWT input is small). */
export const MAX_MESSAGE_BYTES = 1 << 20;

/** Why a key was refused; the message never holds the key. */
export class SigningKeyError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

function bytes(message) {
  if (typeof message === 'string') return Buffer.from(message, 'utf8');
  return Buffer.from(message.buffer, message.byteOffset, message.byteLength);
}

/**
 * The DER of a `-----BEGIN PRIVATE KEY-----` (PKCS#8) PEM block, read as the
 * Rust host does (trimmed lines between the markers, strict base64).
 */
function pkcs8Der(pem) {
  const lines = pem.split('\n').map((l) => l.trim());
  const begin = lines.indexOf('-----BEGIN PRIVATE KEY-----');
  let body = '';
  if (begin >= 0) {
    for (const l of lines.slice(begin + 1)) {
      if (l === '-----END PRIVATE KEY-----') break;
      body += l;
    }
  }
  if (!body) throw new SigningKeyError('expected a PEM `BEGIN PRIVATE KEY` (PKCS#8) block');
  if (body.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
    throw new SigningKeyError('the PEM block is not base64');
  }
  return Buffer.from(body, 'base64');
}

/** A private key object from PKCS#8 DER; a fixed reason (never OpenSSL's text) on failure. */
function privateKey(der, what) {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new SigningKeyError(`not ${what} PKCS#8 private key (InvalidEncoding)`);
  }
}

/**
 * `algorithm` (`hmac-sha1`, `hmac-sha256`, `rs256`, `es256`) over `message`
 * with key text `key`: HMAC keyed with its UTF-8 bytes; RS256
 * (RSASSA-PKCS1-v1_5, SHA-256) and ES256 (ECDSA P-256, SHA-256, 64-byte
 * `r || s`) with a PEM PKCS#8 private key. Throws SigningKeyError.
 */
export function sign(algorithm, key, message) {
  const data = bytes(message);
  switch (algorithm) {
    case 'hmac-sha1':
      return new Uint8Array(createHmac('sha1', Buffer.from(key, 'utf8')).update(data).digest());
    case 'hmac-sha256':
      return new Uint8Array(createHmac('sha256', Buffer.from(key, 'utf8')).update(data).digest());
    case 'rs256': {
      const k = privateKey(pkcs8Der(key), 'an RSA');
      if (k.asymmetricKeyType !== 'rsa') throw new SigningKeyError('not an RSA PKCS#8 private key (WrongAlgorithm)');
      // As ring: 2048 to 4096-bit moduli.
      const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) throw new SigningKeyError('not an RSA PKCS#8 private key (TooSmall)');
      if (bits > 4096) throw new SigningKeyError('not an RSA PKCS#8 private key (TooLarge)');
      try {
        return new Uint8Array(cryptoSign('sha256', data, k));
      } catch {
        throw new SigningKeyError('RSA signing failed');
      }
    }
    case 'es256': {
      const k = privateKey(pkcs8Der(key), 'a P-256');
      if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new SigningKeyError('not a P-256 PKCS#8 private key (WrongAlgorithm)');
      }
      try {
        return new Uint8Array(cryptoSign('sha256', data, { key: k, dsaEncoding: 'ieee-p1363' }));
      } catch {
        throw new SigningKeyError('ECDSA signing failed');
      }
    }
    default:
      throw new TypeError(`unknown signing algorithm \`${algorithm}\``);
  }
}

/**
 * AWS Signature Version 4: the key chain (`AWS4<secret>` → date → region →
 * service → `aws4_request`, each HMAC-SHA256), then HMAC-SHA256 of
 * `stringToSign` with it; lower-case hex.
 */
export function sigv4(secret, date, region, service, stringToSign) {
  const step = (key, data) => createHmac('sha256', key).update(Buffer.from(data, 'utf8')).digest();
  const kDate = step(Buffer.from(`AWS4${secret}`, 'utf8'), date);
  const kRegion = step(kDate, region);
  const kService = step(kRegion, service);
  const kSigning = step(kService, 'aws4_request');
  return step(kSigning, stringToSign).toString('hex');
}

/** RFC 5849 §3.6: every byte but ALPHA, DIGIT, `-`, `.`, `_`, `~` as `%XX`. */
export function oauth1Encode(s) {
  let out = '';
  for (const b of Buffer.from(String(s), 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * RFC 5849 §3.4.2: HMAC (`hmac-sha1` or `hmac-sha256`) of `base` keyed
 * `enc(consumer)&enc(token ?? '')`; base64. Throws SigningKeyError for
 * another algorithm.
 */
export function oauth1(algorithm, consumer, token, base) {
  if (algorithm !== 'hmac-sha1' && algorithm !== 'hmac-sha256') {
    throw new SigningKeyError('OAuth 1.0a signs with hmac-sha1 or hmac-sha256');
  }
  const key = `${oauth1Encode(consumer)}&${oauth1Encode(token ?? '')}`;
  return Buffer.from(sign(algorithm, key, base)).toString('base64');
}

/** The `sign-oauth1` import (0.3.2): `{ok: base64}` or `{err: {tag, val}}`. */
export function oauth1WithSecrets(getSecret, algorithm, consumerName, tokenName, base) {
  if (Buffer.byteLength(String(base), 'utf8') > MAX_MESSAGE_BYTES) {
    return { err: { tag: 'bad-key', val: 'the base string is too large' } };
  }
  const consumer = getSecret(consumerName);
  if (consumer === undefined || consumer === null) return { err: { tag: 'unknown-secret', val: String(consumerName) } };
  let token;
  if (tokenName !== undefined && tokenName !== null) {
    token = getSecret(tokenName);
    if (token === undefined || token === null) return { err: { tag: 'unknown-secret', val: String(tokenName) } };
  }
  try {
    return { ok: oauth1(algorithm, String(consumer), token === undefined ? undefined : String(token), String(base)) };
  } catch (e) {
    if (e instanceof SigningKeyError) return { err: { tag: 'bad-key', val: e.message } };
    throw e;
  }
}

/**
 * The `sign` import: `{ok: Uint8Array}` or `{err: {tag, val}}` with the
 * contract's `signing-error` (`unknown-secret(name)`, `bad-key(reason)`).
 * `getSecret(name)` returns the value or undefined.
 */
export function signWithSecret(getSecret, name, algorithm, message) {
  if (message.length > MAX_MESSAGE_BYTES) {
    return { err: { tag: 'bad-key', val: `the message is larger than ${MAX_MESSAGE_BYTES} bytes` } };
  }
  const key = getSecret(name);
  if (key === undefined || key === null) return { err: { tag: 'unknown-secret', val: String(name) } };
  try {
    return { ok: sign(algorithm, String(key), message) };
  } catch (e) {
    if (e instanceof SigningKeyError) return { err: { tag: 'bad-key', val: `secret \`${name}\`: ${e.message}` } };
    throw e;
  }
}

/** The `sign-sigv4` import: `{ok: hex}` or `{err: {tag, val}}`. */
export function sigv4WithSecret(getSecret, name, date, region, service, stringToSign) {
  if (Buffer.byteLength(String(stringToSign), 'utf8') > MAX_MESSAGE_BYTES) {
    return { err: { tag: 'bad-key', val: 'the string to sign is too large' } };
  }
  const key = getSecret(name);
  if (key === undefined || key === null) return { err: { tag: 'unknown-secret', val: String(name) } };
  return { ok: sigv4(String(key), String(date), String(region), String(service), String(stringToSign)) };
}

/**
 * The `connhost:connector/signing` import object as jco calls it (`sign`,
 * `signSigv4`; the algorithm a kebab-case string, errors thrown as
 * `{payload: {tag, val}}`). `getSecret(name)` returns the value or
 * undefined; `onUse(name, what)`, if given, hears each signature made.
 */
export function signingImports(getSecret, onUse) {
  return {
    sign: (secret, algorithm, message) => {
      const r = signWithSecret(getSecret, secret, algorithm, message);
      if (r.err) throw { payload: r.err };
      onUse?.(secret, algorithm);
      return r.ok;
    },
    signSigv4: (secret, date, region, service, stringToSign) => {
      const r = sigv4WithSecret(getSecret, secret, date, region, service, stringToSign);
      if (r.err) throw { payload: r.err };
      onUse?.(secret, 'sigv4');
      return r.ok;
    },
    signOauth1: (algorithm, consumerSecret, tokenSecret, baseString) => {
      const r = oauth1WithSecrets(getSecret, algorithm, consumerSecret, tokenSecret, baseString);
      if (r.err) throw { payload: r.err };
      onUse?.(tokenSecret ? `${consumerSecret}\` and \`${tokenSecret}` : consumerSecret, 'oauth1');
      return r.ok;
    },
  };
}
