// Outbound request policy, mirroring the Rust host (host/policy/src/origin.rs,
// host/policy/src/basic.rs, host/src/capabilities/http.rs, host/src/net.rs).
// Pure functions: no I/O, so they can be unit-tested and used by the worker.

import net from 'node:net';

/** Headers the host sets itself; a connector may not. */
export const RESERVED_HEADERS = Object.freeze([
  'host', 'content-length', 'transfer-encoding', 'connection', 'upgrade',
  'te', 'trailer', 'proxy-authorization', 'keep-alive',
]);

/** An http import error, as the component sees it (`{tag, val}`). */
export class HttpError extends Error {
  constructor(tag, val) {
    super(tag === 'too-large' ? `response body over ${val} bytes` : `${tag}: ${val}`);
    this.name = 'HttpError';
    this.tag = tag;
    this.val = val;
  }
}

/** Why a template or an origin was refused. */
export class TemplateError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TemplateError';
  }
}

function parseUrl(text) {
  try {
    return new URL(text);
  } catch (e) {
    return null;
  }
}

/** `https://host:port` of an absolute URL (default port filled in), or null. */
export function originOf(url) {
  const u = typeof url === 'string' ? parseUrl(url) : url;
  if (!u || !u.hostname) return null;
  const scheme = u.protocol.replace(/:$/, '');
  const defaults = { https: 443, http: 80, ws: 80, wss: 443, ftp: 21 };
  const port = u.port ? Number(u.port) : defaults[scheme];
  if (port === undefined) return null;
  return `${scheme}://${u.hostname.toLowerCase()}:${port}`;
}

/** A bare `https://host[:port]` (no user info, path, query or fragment) as a normalized origin. */
export function parseBareOrigin(text, label = text) {
  const notOrigin = (reason) =>
    new TemplateError(`host template \`${label}\` does not expand to an https origin: ${reason}`);
  const u = parseUrl(text);
  if (!u) throw notOrigin('invalid URL');
  if (u.protocol !== 'https:') throw notOrigin('only https origins are allowed');
  if (u.username || u.password) throw notOrigin('user info is not allowed');
  // WHATWG parsing: `https://x.com?` has search '' but still a query; check the raw text too.
  if (u.pathname !== '/' || u.search || u.hash || /[?#]/.test(text)) {
    throw notOrigin('a path, query or fragment is not allowed');
  }
  const o = originOf(u);
  if (!o) throw notOrigin('no host');
  return o;
}

/** Expands one template (`https://{domain}`) with `fields`; throws TemplateError. */
export function expandTemplate(template, fields) {
  let out = '';
  let rest = template;
  for (;;) {
    const start = rest.indexOf('{');
    if (start < 0) break;
    out += rest.slice(0, start);
    const endRel = rest.slice(start).indexOf('}');
    if (endRel < 0) {
      throw new TemplateError(`host template \`${template}\` does not expand to an https origin: unclosed \`{\``);
    }
    const end = start + endRel;
    const field = rest.slice(start + 1, end);
    let value = Object.prototype.hasOwnProperty.call(fields, field) ? String(fields[field]).trim() : '';
    if (!value) {
      throw new TemplateError(`host template \`${template}\` uses field \`${field}\`, which has no value`);
    }
    if (value.startsWith('https://')) value = value.slice('https://'.length);
    value = value.replace(/\/+$/, '');
    if (!value || !/^[A-Za-z0-9.-]+$/.test(value)) {
      throw new TemplateError(
        `field \`${field}\` value cannot be used in a host name (only letters, digits, '.', '-' are allowed)`,
      );
    }
    out += value;
    rest = rest.slice(end + 1);
  }
  return out + rest;
}

/**
 * The connection's allowed origins from the manifest's host templates. Like
 * the Rust host's conformance runner (`from_templates(..).unwrap_or_default()`),
 * any template that cannot be expanded leaves the allowlist empty: deny by default.
 */
export function allowlistFromTemplates(templates, fields) {
  const origins = [];
  try {
    for (const t of templates) {
      const o = parseBareOrigin(expandTemplate(t, fields), t);
      if (!origins.includes(o)) origins.push(o);
    }
  } catch (e) {
    if (e instanceof TemplateError) return [];
    throw e;
  }
  return origins;
}

/** Whether `origin` (normalized) matches one of the manifest's origin patterns. */
export function matchesOriginPattern(origin, patterns, { fields = {}, issuerField = null, definitionOrigins = [] } = {}) {
  const u = new URL(origin);
  const host = u.hostname.toLowerCase();
  const port = u.port ? Number(u.port) : 443;
  for (const p of patterns) {
    if (p === '{definition}') {
      // Approved with the definition: origins, or (a templated one's)
      // subdomain and field patterns; never `{definition}`/`{issuer}` again.
      const approved = definitionOrigins.filter((d) => d !== '{definition}' && d !== '{issuer}');
      if (approved.length && matchesOriginPattern(origin, approved, { fields })) return true;
      continue;
    }
    // `{resource:NAME}` (0.3.2) matches as `{field:NAME}`; reading the
    // resource's metadata for the issuer is the embedding platform's step
    // here (the Rust host's connection manager does it).
    const fieldPattern = p.match(/^\{(field|resource):([A-Za-z0-9_-]+)\}$/);
    if (fieldPattern) {
      const v = fields[fieldPattern[2]];
      if (v && fieldOrigin(v) === origin) return true;
      continue;
    }
    if (p === '{issuer}') {
      const iss = issuerField ? fields[issuerField] : undefined;
      if (iss && originOf(iss) === origin && parseUrl(iss)?.protocol === 'https:') return true;
      continue;
    }
    if (p.startsWith('https://*.')) {
      const suffixOrigin = safeOrigin('https://' + p.slice('https://*.'.length));
      if (!suffixOrigin) continue;
      const s = new URL(suffixOrigin);
      const suffix = s.hostname.toLowerCase();
      const sport = s.port ? Number(s.port) : 443;
      if (suffix.split('.').length < 2 || net.isIP(suffix)) continue;
      if (port === sport && host.endsWith('.' + suffix) && host.length > suffix.length + 1) return true;
      continue;
    }
    if (safeOrigin(p) === origin) return true;
  }
  return false;
}

/** The origin a field's value names: a host name, or an https URL's origin. */
function fieldOrigin(value) {
  const text = String(value).startsWith('https://') ? String(value) : 'https://' + value;
  const u = parseUrl(text);
  if (!u || u.protocol !== 'https:' || u.username || u.password) return null;
  return safeOrigin(u.origin);
}

function safeOrigin(text) {
  try {
    return parseBareOrigin(text);
  } catch {
    return null;
  }
}

/** application/x-www-form-urlencoded byte serialization (WHATWG / Rust `url::form_urlencoded`). */
export function formUrlEncode(text) {
  const bytes = Buffer.from(String(text), 'utf8');
  let out = '';
  for (const b of bytes) {
    if (
      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
      b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f
    ) {
      out += String.fromCharCode(b);
    } else if (b === 0x20) {
      out += '+';
    } else {
      out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

/** `Basic base64(id:secret)`; each part form-urlencoded first per RFC 6749 §2.3.1 unless `raw`. */
export function basicHeader(username, password, encoding = 'form-urlencoded') {
  const pair = encoding === 'raw'
    ? `${username}:${password}`
    : `${formUrlEncode(username)}:${formUrlEncode(password)}`;
  return 'Basic ' + Buffer.from(pair, 'utf8').toString('base64');
}

/**
 * Turns a component's request into a wire request, filling in secrets named
 * by `auth` and secret form values. `getSecret(name)` returns the value or
 * undefined. Throws HttpError('invalid-request') for a missing secret.
 */
export function attachSecrets(req, url, getSecret) {
  const secret = (name) => {
    const v = getSecret(name);
    if (v === undefined || v === null) throw new HttpError('invalid-request', `secret \`${name}\` is not set`);
    return String(v);
  };
  const headers = (req.headers ?? []).map(([k, v]) => [k, v]);
  const auth = req.auth ?? { tag: 'none' };
  const u = new URL(url.href);
  switch (auth.tag) {
    case 'none':
      break;
    case 'header':
      headers.push([auth.val.name, `${auth.val.prefix}${secret(auth.val.secret)}`]);
      break;
    case 'query': {
      const pair = `${formUrlEncode(auth.val.name)}=${formUrlEncode(secret(auth.val.secret))}`;
      u.search = u.search && u.search !== '?' ? `${u.search}&${pair}` : `?${pair}`;
      break;
    }
    case 'basic': {
      const password = secret(auth.val.passwordSecret);
      headers.push(['authorization', basicHeader(auth.val.username, password, auth.val.encoding)]);
      break;
    }
    default:
      throw new HttpError('invalid-request', `unknown auth kind \`${auth.tag}\``);
  }
  const body = req.body ?? { tag: 'empty' };
  let bytes;
  switch (body.tag) {
    case 'empty':
      bytes = new Uint8Array(0);
      break;
    case 'bytes':
      bytes = body.val instanceof Uint8Array ? body.val : Uint8Array.from(body.val);
      break;
    case 'form': {
      const parts = [];
      for (const [name, value] of body.val) {
        const v = value.tag === 'secret' ? secret(value.val) : value.val;
        parts.push(`${formUrlEncode(name)}=${formUrlEncode(v)}`);
      }
      for (let i = headers.length - 1; i >= 0; i--) {
        if (headers[i][0].toLowerCase() === 'content-type') headers.splice(i, 1);
      }
      headers.push(['content-type', 'application/x-www-form-urlencoded']);
      bytes = Buffer.from(parts.join('&'), 'utf8');
      break;
    }
    default:
      throw new HttpError('invalid-request', `unknown body kind \`${body.tag}\``);
  }
  return { method: String(req.method ?? 'get').toUpperCase(), url: u, headers, body: bytes };
}

/** Extra credentials one request may carry (`send-with`, `add-credentials`). */
export const MAX_EXTRA_CREDENTIALS = 8;

/**
 * Adds `extra` credentials (contract 0.3.1, `http.credential`) to a wire
 * request that `attachSecrets` made, after its `auth`, as the Rust host's
 * `attach_extra`: another `name: prefix+secret` header; another
 * `?name=secret`; Basic from secrets (raw, an empty password when none,
 * replacing any authorization header); a secret as a string member of the
 * JSON body at an RFC 6901 pointer. A secret that is not set is named.
 * Throws HttpError('invalid-request'); returns `out`, changed.
 */
export function attachExtra(out, extra, getSecret) {
  const secret = (name) => {
    const v = getSecret(name);
    if (v === undefined || v === null) throw new HttpError('invalid-request', `secret \`${name}\` is not set`);
    return String(v);
  };
  for (const c of extra ?? []) {
    const v = c?.val;
    switch (c?.tag) {
      case 'header': {
        const name = String(v.name);
        if (name.toLowerCase() === 'host' || /[\x00-\x20:]/.test(name)) {
          throw new HttpError('invalid-request', `bad header name \`${name}\``);
        }
        out.headers.push([name, `${v.prefix}${secret(v.secret)}`]);
        break;
      }
      case 'query': {
        const pair = `${formUrlEncode(v.name)}=${formUrlEncode(secret(v.secret))}`;
        const u = out.url;
        u.search = u.search && u.search !== '?' ? `${u.search}&${pair}` : `?${pair}`;
        break;
      }
      case 'basic': {
        const user = secret(v.usernameSecret);
        if (user.includes(':')) {
          throw new HttpError('invalid-request',
            `secret \`${v.usernameSecret}\` holds \`:\`, which a Basic user name cannot (RFC 7617)`);
        }
        const password = v.passwordSecret === undefined || v.passwordSecret === null ? '' : secret(v.passwordSecret);
        out.headers = out.headers.filter(([k]) => String(k).toLowerCase() !== 'authorization');
        out.headers.push(['authorization', basicHeader(user, password, 'raw')]);
        break;
      }
      case 'json':
        out.body = jsonWithSecret(out.body, String(v.pointer), () => secret(v.secret));
        break;
      default:
        throw new HttpError('invalid-request', `unknown credential kind \`${c?.tag}\``);
    }
  }
  return out;
}

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/** RFC 6901 evaluation as serde_json's `pointer_mut`: `''` is the whole document. */
function resolvePointer(doc, pointer) {
  if (pointer === '') return doc;
  if (!pointer.startsWith('/')) return undefined;
  let target = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(target)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) >= target.length) return undefined;
      target = target[Number(token)];
    } else if (target !== null && typeof target === 'object') {
      if (!hasOwn(target, token)) return undefined;
      target = target[token];
    } else {
      return undefined;
    }
  }
  return target;
}

/** JSON text as serde_json writes a `Value`: compact, object keys in byte order. */
function canonicalJson(v) {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** `body` (JSON bytes) with the string member at `pointer` set to `value()`. */
function jsonWithSecret(body, pointer, value) {
  let doc;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body ?? new Uint8Array(0));
    doc = JSON.parse(text);
  } catch (e) {
    throw new HttpError('invalid-request', `a json credential needs a JSON body: ${e.message}`);
  }
  const slash = pointer.lastIndexOf('/');
  if (slash < 0) throw new HttpError('invalid-request', `\`${pointer}\` is not a JSON pointer`);
  const parent = pointer.slice(0, slash);
  const key = pointer.slice(slash + 1).replaceAll('~1', '/').replaceAll('~0', '~');
  const obj = resolvePointer(doc, parent);
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new HttpError('invalid-request', `the JSON body has no object at \`${parent}\` for \`${pointer}\``);
  }
  // defineProperty: a `__proto__` member is an own member, as JSON.parse makes it.
  Object.defineProperty(obj, key, { value: value(), writable: true, enumerable: true, configurable: true });
  return Buffer.from(canonicalJson(doc), 'utf8');
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Lower-cases and validates header names; refuses reserved headers and bad
 * values (never echoing a value: it may hold a secret). Returns the headers.
 */
export function checkHeaders(headers) {
  const out = [];
  for (const [name, value] of headers) {
    const lower = String(name).toLowerCase();
    if (RESERVED_HEADERS.includes(lower)) {
      throw new HttpError('invalid-request', `header \`${lower}\` is set by the host`);
    }
    if (!TOKEN.test(lower)) throw new HttpError('invalid-request', `bad header name \`${lower}\``);
    if (!/^[\t\x20-\x7e]*$/.test(String(value))) {
      throw new HttpError('invalid-request', `bad value for header \`${lower}\``);
    }
    out.push([lower, String(value)]);
  }
  return out;
}

// ---- public addresses (host/policy/src/address.rs) ----

function isPublicV4(parts) {
  const [a, b, c] = parts;
  const blocked = a === 0 || a === 10 || a === 127 ||
    (a === 100 && b >= 64 && b < 128) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b < 32) ||
    (a === 192 && b === 0 && c === 0) ||
    (a === 192 && b === 0 && c === 2) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    (a === 198 && b === 51 && c === 100) ||
    (a === 203 && b === 0 && c === 113) ||
    a >= 224;
  return !blocked;
}

function v6Segments(ip) {
  let text = ip;
  // trailing dotted IPv4
  const m = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (m) {
    const p = m[2].split('.').map(Number);
    text = `${m[1]}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  return [...h, ...Array(fill).fill('0'), ...t].map((x) => parseInt(x, 16));
}

/** Whether `ip` (text) is a public unicast address. */
export function isPublicAddress(ip) {
  const kind = net.isIP(ip);
  if (kind === 4) return isPublicV4(ip.split('.').map(Number));
  if (kind !== 6) return false;
  const s = v6Segments(ip.replace(/%.*$/, ''));
  const tail = () => [s[6] >> 8, s[6] & 0xff, s[7] >> 8, s[7] & 0xff];
  const zero = (from, to) => s.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && (s[5] === 0xffff || (s[5] === 0 && (s[6] !== 0 || s[7] > 1)))) return isPublicV4(tail());
  if (s[0] === 0x64 && s[1] === 0xff9b && zero(2, 6)) return isPublicV4(tail());
  if (s[0] === 0x2002) return isPublicV4([s[1] >> 8, s[1] & 0xff, s[2] >> 8, s[2] & 0xff]);
  const blocked = s.every((x) => x === 0) ||
    (zero(0, 7) && s[7] === 1) ||
    (s[0] & 0xff00) === 0xff00 ||
    (s[0] & 0xffc0) === 0xfe80 ||
    (s[0] & 0xffc0) === 0xfec0 ||
    (s[0] & 0xfe00) === 0xfc00 ||
    (s[0] === 0x2001 && s[1] === 0x0db8) ||
    (s[0] === 0x0100 && zero(1, 4));
  return !blocked;
}
