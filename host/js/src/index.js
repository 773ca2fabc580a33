// @connhost/host: runs connhost connector components (connhost:connector@0.3.2,
// and 0.3.0 and 0.3.1 components unchanged) in Node.js with the same outbound policy
// as the Rust host.

import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { Worker, MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import * as shim from '@bytecodealliance/preview2-shim';
import {
  HttpError, allowlistFromTemplates, attachExtra, attachSecrets, checkHeaders, originOf,
  parseBareOrigin, matchesOriginPattern, TemplateError, MAX_EXTRA_CREDENTIALS,
} from './policy.js';
import { signingImports } from './signing.js';

export {
  RESERVED_HEADERS, MAX_EXTRA_CREDENTIALS, HttpError, allowlistFromTemplates, attachExtra, basicHeader, formUrlEncode,
} from './policy.js';
export { sign, sigv4, oauth1, SigningKeyError } from './signing.js';

const VERSION = '0.3.2';
const USER_AGENT = `connhost-js/${VERSION}`;
const KINDS = [
  'invalid-input', 'unauthorized', 'account-validation', 'reauthorization-required',
  'rate-limited', 'provider-error', 'network', 'timeout', 'denied-host', 'unsupported',
];

/** A connector operation failed. `kind` is kebab-case; `payload` as the contract defines it. */
export class ConnectorError extends Error {
  constructor(kind, payload, message) {
    super(message ?? describe(kind, payload));
    this.name = 'ConnectorError';
    this.kind = kind;
    this.payload = payload;
  }
}

function describe(kind, p) {
  switch (kind) {
    case 'invalid-input': return `invalid input: field \`${p?.field}\` ${p?.reason}`;
    case 'unauthorized': return `unauthorized: ${p}`;
    case 'account-validation': return `AccountValidationError: missing ${(p ?? []).join(', ')}`;
    case 'reauthorization-required': return `reauthorization required: ${p}`;
    case 'rate-limited': return `rate limited${p == null ? '' : `: retry after ${p} s`}`;
    case 'provider-error': return `provider error (HTTP ${p?.status}): ${p?.message}`;
    case 'network': return `network error: ${p}`;
    case 'timeout': return `timeout: ${p}`;
    case 'denied-host': return `denied host: ${p} is not in this connection's allowlist`;
    case 'unsupported': return `unsupported: ${p}`;
    default: return `${kind}: ${typeof p === 'string' ? p : JSON.stringify(p)}`;
  }
}

/** A secret store backed by a Map. */
export class MemorySecrets {
  #values = new Map();
  constructor(initial = {}) {
    const entries = initial instanceof Map ? initial.entries() : Object.entries(initial ?? {});
    for (const [k, v] of entries) this.#values.set(k, String(v));
  }
  has(name) { return this.#values.has(name); }
  get(name) { return this.#values.get(name); }
  set(name, value) { this.#values.set(name, String(value)); }
  remove(name) { this.#values.delete(name); }
  /** Secret names, sorted. */
  names() { return [...this.#values.keys()].sort(); }
  /** Never shows values. */
  toJSON() { return { names: this.names() }; }
  [Symbol.for('nodejs.util.inspect.custom')]() { return `MemorySecrets { ${this.names().join(', ')} }`; }
}

// ---- transpiling and caching ----

const modules = new Map(); // sha256 -> Promise<{instantiate, getCoreModule}>

function cacheRoot() {
  return process.env.CONNHOST_JS_CACHE || path.join(os.tmpdir(), 'connhost-js');
}

async function prepare(bytes) {
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (!modules.has(sha)) {
    const p = (async () => {
      const dir = path.join(cacheRoot(), sha);
      const entry = path.join(dir, 'component.js');
      if (!fs.existsSync(entry)) {
        const { transpile } = await import('@bytecodealliance/jco');
        const out = await transpile(bytes, {
          name: 'component', instantiation: 'sync', noTypescript: true, quiet: true,
        });
        const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        for (const [name, data] of Object.entries(out.files)) {
          const file = path.join(tmp, name);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, data);
        }
        try {
          fs.renameSync(tmp, dir);
        } catch (e) {
          fs.rmSync(tmp, { recursive: true, force: true });
          if (!fs.existsSync(entry)) throw e;
        }
      }
      const mod = await import(pathToFileURL(entry).href);
      const compiled = new Map();
      const getCoreModule = (name) => {
        if (!compiled.has(name)) compiled.set(name, new WebAssembly.Module(fs.readFileSync(path.join(dir, name))));
        return compiled.get(name);
      };
      return { instantiate: mod.instantiate, getCoreModule };
    })();
    modules.set(sha, p);
    p.catch(() => modules.delete(sha));
  }
  return modules.get(sha);
}

// WASI: what the Rust host gives a connector — clocks, random, stdio; no
// environment, no arguments, no filesystem, no sockets, and `exit` never
// ends the host process.
function camel(s) { return s.replace(/-([a-z])/g, (_, c) => c.toUpperCase()); }

function wasiImports() {
  const out = {};
  for (const [ns, group] of Object.entries({ cli: shim.cli, clocks: shim.clocks, io: shim.io, random: shim.random })) {
    for (const [iface, impl] of Object.entries(group)) {
      if (iface.startsWith('_') || typeof impl !== 'object') continue;
      const name = iface.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      out[`wasi:${ns}/${name}`] = impl;
    }
  }
  out['wasi:cli/environment'] = {
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  };
  out['wasi:cli/exit'] = {
    exit: (status) => { throw new Error(`connector called exit (${status?.tag ?? status})`); },
    exitWithCode: (code) => { throw new Error(`connector called exit (${code})`); },
  };
  out['wasi:filesystem/preopens'] = { getDirectories: () => [] };
  return out;
}

// ---- the synchronous HTTP bridge ----

class Sender {
  constructor(opts) {
    const { port1, port2 } = new MessageChannel();
    this.port = port2;
    this.flag = new SharedArrayBuffer(4);
    this.signal = new Int32Array(this.flag);
    this.nextId = 1;
    this.worker = new Worker(fileURLToPath(new URL('./worker.js', import.meta.url)), {
      workerData: {
        port: port1, flag: this.flag, caPem: opts.caPem ?? null,
        connectTo: normalizeConnectTo(opts.connectTo), userAgent: USER_AGENT,
      },
      transferList: [port1],
    });
    this.worker.unref();
    this.port.unref?.();
    this.worker.on('error', () => {});
  }

  /** Blocks until the worker answers; returns {ok} or {err}. */
  send(request, timeoutMs) {
    const id = this.nextId++;
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage({ id, request });
    const until = Date.now() + timeoutMs + 5000;
    for (;;) {
      let m;
      while ((m = receiveMessageOnPort(this.port))) {
        if (m.message.id === id) return m.message;
      }
      const left = until - Date.now();
      if (left <= 0) return { err: { tag: 'timeout', val: `no answer within ${timeoutMs} ms` } };
      Atomics.wait(this.signal, 0, 0, left);
      Atomics.store(this.signal, 0, 0);
    }
  }

  close() {
    this.port.close();
    return this.worker.terminate();
  }
}

function normalizeConnectTo(map) {
  const out = {};
  for (const [k, v] of Object.entries(map ?? {})) {
    const [host, port] = splitHostPort(k);
    out[`${host.toLowerCase()}:${port}`] = v;
  }
  return out;
}

function splitHostPort(s) {
  const i = s.lastIndexOf(':');
  if (i < 0) return [s, 443];
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

// ---- conversions between JS and the component ----

function toInput(connection) {
  const fields = connection?.fields ?? {};
  return {
    id: String(connection?.id ?? ''),
    fields: (fields instanceof Map ? [...fields.entries()] : Object.entries(fields)).map(([k, v]) => [k, String(v)]),
    grantedScopes: [...(connection?.grantedScopes ?? [])],
    expiresAt: connection?.expiresAt == null ? undefined : BigInt(connection.expiresAt),
  };
}

function fieldsObject(connection) {
  const f = connection?.fields ?? {};
  return f instanceof Map ? Object.fromEntries(f) : { ...f };
}

function opt(v) { return v === undefined ? null : v; }

function snake(v) {
  if (Array.isArray(v)) return v.map(snake);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())] = snake(x);
    return out;
  }
  return opt(v);
}

function manifestJs(m) {
  const field = (f) => ({
    name: f.name, label: f.label, required: f.required, secret: f.secret, advanced: f.advanced,
    default: opt(f.default), help: opt(f.help), allowed_values: [...f.allowedValues],
  });
  return {
    id: m.id,
    display_name: m.displayName,
    version: m.version,
    fields: m.fields.map(field),
    auth_field: m.authField,
    auth_kinds: m.authKinds.map((k) => ({
      id: k.id, label: k.label, fields: k.fields.map(field), authorization_code: k.authorizationCode,
    })),
    scopes: m.scopes.map((s) => ({ name: s.name, group: s.group, description: s.description })),
    hosts: [...m.hosts],
    scopes_field: opt(m.scopesField),
    issuer_field: opt(m.issuerField),
    token_secrets: [...m.tokenSecrets],
    refresh_secret: opt(m.refreshSecret),
    definitions: m.definitions ? { reference: m.definitions.reference, content: m.definitions.content } : null,
    origin_patterns: [...m.originPatterns],
  };
}

function stateJs(s) {
  return {
    granted_scopes: [...s.grantedScopes],
    expires_at: s.expiresAt === undefined ? null : Number(s.expiresAt),
    fields: Object.fromEntries(s.fields),
  };
}

function errorPayloadJs(tag, val) {
  switch (tag) {
    case 'invalid-input': return { field: val.field, reason: val.reason };
    case 'account-validation': return [...val];
    case 'rate-limited': return val === undefined ? null : val;
    case 'provider-error': return { status: val.status, message: val.message };
    default: return val;
  }
}

/**
 * Takes each value out of a text: as is, form-encoded and inside base64
 * (a Basic header a provider echoed), as the Rust host's
 * `SecretScope::scrub` does. Values shorter than 6 characters stay.
 */
function redactor(values) {
  const forms = new Set();
  for (const v of values) {
    if (!v || v.length < 6) continue;
    const enc = formUrlEncodeValue(v);
    forms.add(v).add(enc).add(enc.split('+').join('%20'));
  }
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    let t = String(text);
    if (!sorted.length) return t;
    for (const f of sorted) t = t.split(f).join('[redacted]');
    return t.replace(/[A-Za-z0-9+/=_-]{8,}/g, (run) => {
      for (const enc of ['base64', 'base64url']) {
        const d = Buffer.from(run.replace(/=+$/, ''), enc).toString('utf8');
        if (sorted.some((f) => d.includes(f))) return '[redacted]';
      }
      return run;
    });
  };
}

function formUrlEncodeValue(v) {
  let out = '';
  for (const b of Buffer.from(String(v), 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9*\-._]/.test(c)) out += c;
    else if (b === 0x20) out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function redactPayload(p, redact) {
  if (typeof p === 'string') return redact(p);
  if (Array.isArray(p)) return p.map((x) => redactPayload(x, redact));
  if (p && typeof p === 'object') return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, redactPayload(v, redact)]));
  return p;
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'];

/** A loaded connector component. */
export class Connector {
  #prepared;
  #opts;
  #sender = null;
  #manifestRaw;
  #manifest;

  constructor(prepared, opts) {
    this.#prepared = prepared;
    this.#opts = {
      maxBodyBytes: opts.maxBodyBytes ?? 4 * 1024 * 1024,
      timeoutMs: opts.timeoutMs ?? 30000,
      maxTimeoutMs: opts.maxTimeoutMs ?? 120000,
      caPem: opts.caPem,
      connectTo: opts.connectTo ?? {},
      logger: opts.logger ?? null,
    };
    const inst = this.#instantiate(null);
    this.#manifestRaw = inst.manifest();
    this.#manifest = manifestJs(this.#manifestRaw);
  }

  /** Loads (transpiling once per component hash, cached on disk) a component file or bytes. */
  static async load(component, opts = {}) {
    const bytes = typeof component === 'string' || component instanceof URL
      ? await fs.promises.readFile(component)
      : component;
    const prepared = await prepare(bytes);
    return new Connector(prepared, opts);
  }

  /** Stops the HTTP worker. */
  async close() {
    const s = this.#sender;
    this.#sender = null;
    if (s) await s.close();
  }

  #getSender() {
    if (!this.#sender) this.#sender = new Sender(this.#opts);
    return this.#sender;
  }

  /** A fresh instance whose imports work on `ctx` (allowlist, secrets). */
  #instantiate(ctx) {
    const noCtx = () => { throw new Error('manifest must not use imports'); };
    const imports = {
      ...wasiImports(),
      'connhost:connector/http': {
        send: (req) => {
          if (!ctx) noCtx();
          const r = this.#send(ctx, req, []);
          if (r.err) throw { payload: r.err };
          return r.ok;
        },
        // 0.3.1: `send` with credentials after `req.auth`.
        sendWith: (req, extra) => {
          if (!ctx) noCtx();
          const r = this.#send(ctx, req, extra);
          if (r.err) throw { payload: r.err };
          return r.ok;
        },
        // 0.3.2: mutual TLS with a client certificate from secrets.
        sendMtls: (req, extra, identity) => {
          if (!ctx) noCtx();
          const r = this.#send(ctx, req, extra, identity);
          if (r.err) throw { payload: r.err };
          return r.ok;
        },
        // 0.3.1: staged in `authenticate-request` for the request it
        // returns (see `request`); bounded, or the call traps.
        addCredentials: (extra) => {
          if (!ctx) noCtx();
          if (ctx.staged.length + extra.length > MAX_EXTRA_CREDENTIALS) {
            throw new Error(`add-credentials: more than ${MAX_EXTRA_CREDENTIALS} credentials`);
          }
          ctx.staged.push(...extra);
        },
      },
      // 0.3.1: signatures with the connection's secrets by name; the
      // values stay in the host.
      'connhost:connector/signing': signingImports(
        (name) => (ctx ? ctx.signingSecret(name) : noCtx()),
        (name, what) => this.#opts.logger?.('debug', `secret \`${name}\` used to sign (${what}, connection ${ctx.id})`),
      ),
      'connhost:connector/secrets': {
        has: (name) => (ctx ? !!ctx.secrets.has(name) : noCtx()),
        set: (name, value) => {
          if (!ctx) noCtx();
          ctx.touched.add(String(value));
          ctx.secrets.set(name, value);
        },
        remove: (name) => { if (!ctx) noCtx(); ctx.secrets.remove(name); },
        reveal: (name) => {
          if (!ctx) noCtx();
          const v = ctx.secrets.get(name);
          if (v === undefined || v === null) return undefined;
          ctx.touched.add(String(v));
          this.#opts.logger?.('debug', `secret \`${name}\` revealed to the connector (connection ${ctx.id})`);
          return String(v);
        },
      },
      'connhost:connector/log': {
        log: (level, message) => {
          const logger = this.#opts.logger;
          if (!logger) return;
          logger(level, ctx ? ctx.redact(message) : String(message));
        },
      },
    };
    const { instantiate, getCoreModule } = this.#prepared;
    const exportsAll = instantiate(getCoreModule, imports);
    return exportsAll['connhost:connector/connector@0.3.2']
      ?? exportsAll['connhost:connector/connector@0.3.1']
      ?? exportsAll['connhost:connector/connector@0.3.0']
      ?? exportsAll.connector;
  }

  /** The http import and `request`'s sending: policy checks, then the worker. */
  #send(ctx, req, extra, identity) {
    if (extra.length > MAX_EXTRA_CREDENTIALS) {
      return { err: { tag: 'invalid-request', val: `more than ${MAX_EXTRA_CREDENTIALS} extra credentials` } };
    }
    let url;
    try {
      url = new URL(req.url);
    } catch (e) {
      return { err: { tag: 'invalid-request', val: `bad URL: ${e.code === 'ERR_INVALID_URL' ? 'invalid URL' : e.message}` } };
    }
    const origin = originOf(url);
    if (!origin || !ctx.origins.includes(origin)) {
      const target = origin ?? url.origin;
      this.#opts.logger?.('warn', `denied outbound request to ${target} (connection ${ctx.id})`);
      return { err: { tag: 'denied-host', val: target } };
    }
    let out;
    try {
      const getSecret = (name) => {
        const v = ctx.secrets.get(name);
        if (v !== undefined && v !== null) ctx.touched.add(String(v));
        return v;
      };
      out = attachExtra(attachSecrets(req, url, getSecret), extra, getSecret);
      out.headers = checkHeaders(out.headers);
    } catch (e) {
      if (e instanceof HttpError) return { err: { tag: e.tag, val: e.val } };
      throw e;
    }
    // A client certificate (mutual TLS): both secrets must be set and PEM,
    // checked here as the Rust host does, named but never shown.
    let tlsIdentity;
    if (identity) {
      const names = `secrets \`${identity.certificateSecret}\` and \`${identity.keySecret}\``;
      const cert = ctx.signingSecret(identity.certificateSecret);
      const key = ctx.signingSecret(identity.keySecret);
      if (cert === undefined || cert === null) return { err: { tag: 'invalid-request', val: `secret \`${identity.certificateSecret}\` is not set` } };
      if (key === undefined || key === null) return { err: { tag: 'invalid-request', val: `secret \`${identity.keySecret}\` is not set` } };
      if (!/-----BEGIN CERTIFICATE-----/.test(String(cert))) return { err: { tag: 'invalid-request', val: `${names}: the certificate holds no \`BEGIN CERTIFICATE\` block` } };
      if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(String(key))) return { err: { tag: 'invalid-request', val: `${names}: the key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)` } };
      tlsIdentity = { cert: String(cert), key: String(key) };
    }
    const timeoutMs = Math.min(req.timeoutMs ?? this.#opts.timeoutMs, this.#opts.maxTimeoutMs);
    const r = this.#getSender().send({
      method: out.method, url: out.url.href, headers: out.headers, body: out.body,
      timeoutMs, maxBodyBytes: this.#opts.maxBodyBytes, identity: tlsIdentity,
    }, timeoutMs);
    if (r.err) {
      if (r.err.tag === 'too-large') return { err: { tag: 'too-large', val: BigInt(r.err.val) } };
      return { err: { tag: r.err.tag, val: ctx.redact(r.err.val) } };
    }
    return { ok: { status: r.ok.status, headers: r.ok.headers, body: new Uint8Array(r.ok.body) } };
  }

  #context(connection, secrets) {
    const fields = fieldsObject(connection);
    const store = secrets ?? new MemorySecrets();
    const touched = new Set();
    return {
      id: String(connection?.id ?? ''),
      fields,
      secrets: store,
      touched,
      // `add-credentials` of this instance, for the request
      // `authenticate-request` returns.
      staged: [],
      // A key for `signing`: redacted from errors and logs like a revealed value.
      signingSecret: (name) => {
        const v = store.get(name);
        if (v !== undefined && v !== null) touched.add(String(v));
        return v;
      },
      origins: allowlistFromTemplates(this.#manifestRaw.hosts, fields),
      // The connection's secrets and what the component saw: providers
      // repeat in their errors what they were sent.
      redact: (t) => {
        const all = new Set(touched);
        if (typeof store.names === 'function') {
          for (const n of store.names()) {
            const v = store.get(n);
            if (v !== undefined && v !== null) all.add(String(v));
          }
        }
        return redactor(all)(t);
      },
      definitionOrigins: connection?.definitionOrigins ?? [],
    };
  }

  /** Asks `allowed-origins` and adds each answer that is a bare https origin matching the manifest's patterns. */
  #addAllowedOrigins(inst, ctx, input) {
    const answered = this.#call(ctx, () => inst.allowedOrigins(input));
    for (const raw of answered) {
      let o;
      try {
        o = parseBareOrigin(raw);
      } catch (e) {
        if (e instanceof TemplateError) throw new ConnectorError('denied-host', String(raw));
        throw e;
      }
      if (ctx.origins.includes(o)) continue;
      if (!matchesOriginPattern(o, this.#manifestRaw.originPatterns, {
        fields: ctx.fields, issuerField: this.#manifestRaw.issuerField, definitionOrigins: ctx.definitionOrigins,
      })) {
        throw new ConnectorError('denied-host', o);
      }
      ctx.origins.push(o);
    }
  }

  #call(ctx, fn) {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ConnectorError) throw e;
      if (e && e.payload && typeof e.payload.tag === 'string' && KINDS.includes(e.payload.tag)) {
        const payload = errorPayloadJs(e.payload.tag, e.payload.val);
        throw new ConnectorError(e.payload.tag, ctx ? redactPayload(payload, ctx.redact) : payload);
      }
      const msg = ctx ? ctx.redact(e?.message ?? String(e)) : (e?.message ?? String(e));
      throw new ConnectorError('plugin-failure', msg, `connector \`${this.#manifest.id}\` failed: ${msg}`);
    }
  }

  /** Runs one operation in a fresh instance; `extraOrigins` asks `allowed-origins` first. */
  #run(connection, secrets, op, { extraOrigins = true } = {}) {
    const ctx = this.#context(connection, secrets);
    const input = toInput(connection);
    const inst = this.#call(ctx, () => this.#instantiate(ctx));
    if (extraOrigins) this.#addAllowedOrigins(inst, ctx, input);
    return op(inst, input, ctx);
  }

  /** The manifest, snake_case keys. */
  manifest() {
    return structuredClone(this.#manifest);
  }

  async verify(connection, secrets) {
    return this.#run(connection, secrets, (i, input, ctx) => ({
      account_label: this.#call(ctx, () => i.verify(input)).accountLabel,
    }));
  }

  async create(connection, secrets) {
    return this.#run(connection, secrets, (i, input, ctx) => stateJs(this.#call(ctx, () => i.create(input))));
  }

  async refresh(connection, secrets) {
    return this.#run(connection, secrets, (i, input, ctx) => {
      const o = this.#call(ctx, () => i.refresh(input));
      return o.tag === 'refreshed' ? { refreshed: stateJs(o.val) } : { not_needed: o.val };
    });
  }

  async validateScopes(required, granted) {
    const i = this.#call(null, () => this.#instantiate(null));
    this.#call(null, () => i.validateScopes([...required], [...granted]));
    return null;
  }

  async authorizeUrl(connection, secrets, request) {
    return this.#run(connection, secrets, (i, input, ctx) => {
      const a = this.#call(ctx, () => i.authorizeUrl(input, {
        redirectUri: request.redirectUri, state: request.state,
        codeChallenge: request.codeChallenge, scopes: [...(request.scopes ?? [])],
      }));
      return { url: a.url, fields: Object.fromEntries(a.fields) };
    });
  }

  async exchangeCode(connection, secrets, exchange) {
    return this.#run(connection, secrets, (i, input, ctx) => stateJs(this.#call(ctx, () => i.exchangeCode(input, {
      code: exchange.code, redirectUri: exchange.redirectUri,
      codeVerifier: exchange.codeVerifier, requestedScopes: [...(exchange.requestedScopes ?? [])],
    }))));
  }

  async revoke(connection, secrets) {
    return this.#run(connection, secrets, (i, input, ctx) => {
      this.#call(ctx, () => i.revoke(input));
      return null;
    });
  }

  async allowedOrigins(connection, secrets) {
    return this.#run(connection, secrets, (i, input, ctx) => [...this.#call(ctx, () => i.allowedOrigins(input))],
      { extraOrigins: false });
  }

  /**
   * A request the platform makes through the connection: the connector's
   * `authenticate-request` adds credentials, then the host sends it with
   * the same policy as the connector's own requests.
   */
  async request(connection, secrets, request) {
    return this.#run(connection, secrets, (i, input, ctx) => {
      const method = String(request.method ?? 'GET').toLowerCase();
      if (!METHODS.includes(method)) {
        throw new ConnectorError('invalid-input', { field: 'request', reason: `unsupported method \`${request.method}\`` });
      }
      let url = String(request.url);
      if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) {
        // A path: the connection's first origin (as the Rust and Python hosts).
        if (!url.startsWith('/')) {
          throw new ConnectorError('invalid-input', { field: 'url', reason: 'must be an absolute https:// URL or a path starting with `/`' });
        }
        if (!ctx.origins.length) {
          throw new ConnectorError('invalid-input', { field: 'url', reason: 'this connection has no origin to resolve a path against; give an absolute https:// URL' });
        }
        url = new URL(url, ctx.origins[0]).href;
      }
      const body = request.body == null ? { tag: 'empty' }
        : { tag: 'bytes', val: typeof request.body === 'string' ? Buffer.from(request.body) : new Uint8Array(request.body) };
      const witReq = {
        method, url,
        headers: (request.headers ?? []).map(([k, v]) => [String(k), String(v)]),
        auth: { tag: 'none' }, body,
        timeoutMs: request.timeoutMs ?? undefined,
      };
      const authed = this.#call(ctx, () => i.authenticateRequest(input, witReq));
      // With what `add-credentials` staged in `authenticate-request`.
      const extra = ctx.staged;
      ctx.staged = [];
      const r = this.#send(ctx, authed, extra);
      if (r.err) {
        const { tag, val } = r.err;
        switch (tag) {
          case 'denied-host': throw new ConnectorError('denied-host', val);
          case 'invalid-request': throw new ConnectorError('invalid-input', { field: 'request', reason: val });
          case 'network': throw new ConnectorError('network', val);
          case 'timeout': throw new ConnectorError('timeout', val);
          case 'too-large': throw new ConnectorError('network', `the response is larger than the ${val}-byte cap`);
          default: throw new ConnectorError('network', String(val));
        }
      }
      return r.ok;
    });
  }
}
