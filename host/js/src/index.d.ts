// Types for @connhost/host (connhost:connector@0.3.2; 0.3.0 and 0.3.1 components load unchanged).

export type ErrorKind =
  | 'invalid-input' | 'unauthorized' | 'account-validation' | 'reauthorization-required'
  | 'rate-limited' | 'provider-error' | 'network' | 'timeout' | 'denied-host' | 'unsupported'
  /** The component trapped or broke the contract (not a connector-error). */
  | 'plugin-failure';

/** A connector operation failed. Messages never hold secret values. */
export class ConnectorError extends Error {
  constructor(kind: ErrorKind | string, payload: unknown, message?: string);
  readonly kind: ErrorKind;
  /**
   * invalid-input: {field, reason}; account-validation: string[];
   * rate-limited: number | null; provider-error: {status, message};
   * every other kind: string.
   */
  readonly payload:
    | { field: string; reason: string }
    | string[]
    | number
    | null
    | { status: number; message: string }
    | string;
}

/** Where a connection's secrets live; the component reaches them only through the host. */
export interface SecretStore {
  has(name: string): boolean;
  get(name: string): string | undefined | null;
  set(name: string, value: string): void;
  remove(name: string): void;
}

/** A SecretStore in memory. */
export class MemorySecrets implements SecretStore {
  constructor(initial?: Record<string, string> | Map<string, string>);
  has(name: string): boolean;
  get(name: string): string | undefined;
  set(name: string, value: string): void;
  remove(name: string): void;
  /** The secret names held, sorted. */
  names(): string[];
  toJSON(): { names: string[] };
}

export interface Connection {
  id: string;
  /** Non-secret field values. */
  fields: Record<string, string> | Map<string, string>;
  grantedScopes?: string[];
  /** Unix seconds. */
  expiresAt?: number | bigint | null;
  /** Origins approved for the stored definition the connection uses (`{definition}` pattern). */
  definitionOrigins?: string[];
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface LoadOptions {
  /** Extra trust root(s), PEM, in addition to the public roots. */
  caPem?: string | string[];
  /** `host:port` → `addr:port`: connect there while TLS still checks the original name. */
  connectTo?: Record<string, string>;
  /** Largest response body accepted (default 4 MiB). */
  maxBodyBytes?: number;
  /** Deadline when a request names none (default 30000). */
  timeoutMs?: number;
  /** Upper bound on any request's deadline (default 120000). */
  maxTimeoutMs?: number;
  /** Receives the connector's log messages and host notices. Default: no output. */
  logger?: (level: LogLevel, message: string) => void;
}

export interface FieldSpec {
  name: string; label: string; required: boolean; secret: boolean; advanced: boolean;
  default: string | null; help: string | null; allowed_values: string[];
}

export interface Manifest {
  id: string;
  display_name: string;
  version: string;
  fields: FieldSpec[];
  auth_field: string;
  auth_kinds: { id: string; label: string; fields: FieldSpec[]; authorization_code: boolean }[];
  scopes: { name: string; group: string; description: string }[];
  hosts: string[];
  scopes_field: string | null;
  issuer_field: string | null;
  token_secrets: string[];
  refresh_secret: string | null;
  definitions: { reference: string; content: string } | null;
  origin_patterns: string[];
}

export interface ConnectionState {
  granted_scopes: string[];
  expires_at: number | null;
  fields: Record<string, string>;
}

export type RefreshOutcome = { refreshed: ConnectionState } | { not_needed: string };

export interface AuthorizeRequest {
  redirectUri: string;
  state: string;
  codeChallenge: string;
  scopes?: string[];
}

export interface CodeExchange {
  code: string;
  redirectUri: string;
  codeVerifier: string;
  requestedScopes?: string[];
}

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  | 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete';

export interface PlatformRequest {
  method: Method;
  /** Absolute https URL, or a path resolved against the connection's first origin. */
  url: string;
  headers?: [string, string][];
  body?: Uint8Array | string | null;
  timeoutMs?: number;
}

export interface Response {
  status: number;
  /** Lower-case names, in the order received. */
  headers: [string, string][];
  body: Uint8Array;
}

export class Connector {
  /** Loads a component (path or bytes); transpiled once per content hash into a cache dir. */
  static load(component: string | URL | Uint8Array, opts?: LoadOptions): Promise<Connector>;
  /** Stops the HTTP worker thread. */
  close(): Promise<void>;
  manifest(): Manifest;
  create(connection: Connection, secrets?: SecretStore): Promise<ConnectionState>;
  verify(connection: Connection, secrets?: SecretStore): Promise<{ account_label: string }>;
  refresh(connection: Connection, secrets?: SecretStore): Promise<RefreshOutcome>;
  validateScopes(required: string[], granted: string[]): Promise<null>;
  authorizeUrl(connection: Connection, secrets: SecretStore | undefined, request: AuthorizeRequest):
    Promise<{ url: string; fields: Record<string, string> }>;
  exchangeCode(connection: Connection, secrets: SecretStore | undefined, exchange: CodeExchange): Promise<ConnectionState>;
  revoke(connection: Connection, secrets?: SecretStore): Promise<null>;
  allowedOrigins(connection: Connection, secrets?: SecretStore): Promise<string[]>;
  /** authenticate-request in the component, then sent by the host with the same policy. */
  request(connection: Connection, secrets: SecretStore | undefined, request: PlatformRequest): Promise<Response>;
}

export const RESERVED_HEADERS: readonly string[];
/** Allowed origins (`https://host:port`) from host templates; empty when any cannot be expanded. */
export function allowlistFromTemplates(templates: string[], fields: Record<string, string>): string[];
/** `Basic base64(id:secret)`; each part form-urlencoded unless `raw`. */
export function basicHeader(username: string, password: string, encoding?: 'form-urlencoded' | 'raw'): string;
/** application/x-www-form-urlencoded serialization of one value. */
export function formUrlEncode(text: string): string;

/** Extra credentials one request may carry (`send-with`, `add-credentials`). */
export const MAX_EXTRA_CREDENTIALS: number;

/** A credential beyond a request's `auth` (contract 0.3.1, `http.credential`), as jco passes it. */
export type Credential =
  | { tag: 'header'; val: { name: string; prefix: string; secret: string } }
  | { tag: 'query'; val: { name: string; secret: string } }
  | { tag: 'basic'; val: { usernameSecret: string; passwordSecret?: string } }
  | { tag: 'json'; val: { pointer: string; secret: string } };

/** An http import error as the component sees it: `invalid-request`, `denied-host`, ... */
export class HttpError extends Error {
  readonly tag: string;
  readonly val: string | number;
}

/** A request after `auth` was attached: what `attachExtra` changes. */
export interface WireRequest {
  method: string;
  url: URL;
  headers: [string, string][];
  body: Uint8Array;
}

/**
 * Adds `extra` credentials after `auth`, as the Rust host: another header or
 * query value; Basic from secrets (raw, replacing any authorization header;
 * a user name holding `:` is refused); a secret as the JSON body's string
 * member at an RFC 6901 pointer (the parent must be an object). A missing
 * secret is named. Throws an `HttpError` (`invalid-request`).
 */
export function attachExtra(
  out: WireRequest, extra: Credential[], getSecret: (name: string) => string | undefined | null,
): WireRequest;

/** Signature algorithms of the `signing` import. */
export type SigningAlgorithm = 'hmac-sha1' | 'hmac-sha256' | 'rs256' | 'es256';

/** Why a key was refused; the message never holds the key. */
export class SigningKeyError extends Error {}

/**
 * The `signing` import's signature with key text `key`: HMAC keyed with its
 * UTF-8 bytes; RS256 and ES256 (64-byte `r || s`) with a PEM PKCS#8 private
 * key. Throws `SigningKeyError`.
 */
export function sign(algorithm: SigningAlgorithm, key: string, message: Uint8Array | string): Uint8Array;

/** AWS SigV4: the derived key chain's HMAC-SHA256 of `stringToSign`, lower-case hex. */
export function sigv4(secret: string, date: string, region: string, service: string, stringToSign: string): string;
