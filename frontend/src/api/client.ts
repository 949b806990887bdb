/**
 * The typed HTTP client. This is the ONLY module that calls fetch().
 *
 * Paths, path parameters, query, request body and the success body are all checked against
 * `schema.d.ts`, which `make api-client` generates from the server's OpenAPI schema (so a
 * renamed field or endpoint is a type error, and `make test` fails if the file is stale):
 *
 *   const { data, status, headers } = await call('post', '/api/v1/t/{tenant}/projects/{project_id}/next', {
 *     path: { tenant: 'acme', project_id: id },
 *   });
 *
 * - Same-origin requests only, with `credentials: 'same-origin'`.
 * - Unsafe methods (POST/PATCH/PUT/DELETE) carry `X-CSRFToken` from the `csrftoken` cookie.
 * - Non-2xx answers become an ApiError parsed from `{"error": {"code", "message", "fields"}}`;
 *   a failed connection is ApiError status 0, code `network_error`; an abort is re-thrown.
 */

import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type ApiPath = keyof paths;
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The paths that have an operation for `M`. */
export type PathsFor<M extends Method> = {
  [P in ApiPath]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[ApiPath];

export type Operation<P extends ApiPath, M extends Method> = NonNullable<paths[P][M]>;

type PathParams<O> = O extends { parameters: { path: infer X } } ? ([X] extends [undefined] ? never : X) : never;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : never;
type JsonBody<O> = O extends { requestBody?: infer RB }
  ? [NonNullable<RB>] extends [never]
    ? never
    : NonNullable<RB> extends { content: { 'application/json': infer B } }
      ? B
      : never
  : never;
type SuccessCode = 200 | 201 | 202 | 203;
type JsonOf<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;

/** The body of any 2xx answer of the operation (undefined for 204 No Content). */
export type SuccessBody<O> =
  | { [C in keyof Responses<O>]: C extends SuccessCode ? JsonOf<Responses<O>[C]> : never }[keyof Responses<O>]
  | (204 extends keyof Responses<O> ? undefined : never);

/** `K` may be left out when its value may be undefined or every key of it is optional. */
type Opt<K extends string, T> = [T] extends [never]
  ? { [_ in K]?: never }
  : undefined extends T
    ? { [_ in K]?: T }
    : {} extends T
      ? { [_ in K]?: T }
      : { [_ in K]: T };

export type CallOptions<O> = Opt<'path', PathParams<O>> &
  Opt<'query', QueryParams<O>> &
  Opt<'body', JsonBody<O>> & {
    headers?: Record<string, string>;
    signal?: AbortSignal;
  };

export interface ApiResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldErrors;

  constructor(status: number, code: string, message: string, fields: FieldErrors = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  get isNotFound(): boolean {
    return this.status === 404;
  }

  get isUnauthenticated(): boolean {
    return this.status === 401 || this.status === 403;
  }

  /** No answer from the server (offline, connection reset): safe to retry idempotent calls. */
  get isNetwork(): boolean {
    return this.status === 0 && this.code === 'network_error';
  }
}

/** True for errors raised because the request was aborted (navigation away). */
export function isAbortError(err: unknown): boolean {
  return err instanceof DOMException
    ? err.name === 'AbortError'
    : typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CSRF_COOKIE = 'csrftoken';

/** Last token returned by GET /auth/csrf; used only if the cookie cannot be read. */
let lastCsrfToken: string | null = null;

export function setCsrfFallback(token: string | null): void {
  lastCsrfToken = token;
}

export function readCookie(name: string, cookieString: string = document.cookie): string | null {
  for (const part of cookieString.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return null;
}

function csrfToken(): string | null {
  return readCookie(CSRF_COOKIE) ?? lastCsrfToken;
}

function statusCode(status: number): string {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'not_authenticated';
    case 403:
      return 'permission_denied';
    case 404:
      return 'not_found';
    case 429:
      return 'throttled';
    default:
      return status >= 500 ? 'server_error' : `http_${status}`;
  }
}

function defaultMessage(status: number): string {
  switch (status) {
    case 401:
    case 403:
      return 'You are not allowed to do this.';
    case 404:
      return 'Not found.';
    case 429:
      return 'Too many requests. Please wait and try again.';
    default:
      return status >= 500 ? 'The server had a problem. Please try again.' : `Request failed (${status}).`;
  }
}

function normaliseFields(raw: unknown): FieldErrors {
  const out: FieldErrors = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return out;
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(value)) {
      out[key] = value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
    } else if (typeof value === 'string') {
      out[key] = [value];
    } else if (value !== null && value !== undefined) {
      out[key] = [JSON.stringify(value)];
    }
  }
  return out;
}

/** Build an ApiError from a status and an (already parsed, possibly absent) body. */
export function parseError(status: number, body: unknown): ApiError {
  const err = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown; fields?: unknown };
    const code = typeof e.code === 'string' && e.code ? e.code : statusCode(status);
    const message = typeof e.message === 'string' && e.message ? e.message : defaultMessage(status);
    return new ApiError(status, code, message, normaliseFields(e.fields));
  }
  return new ApiError(status, statusCode(status), defaultMessage(status));
}

/** Fill `{name}` placeholders of an OpenAPI path, each value URL-encoded. */
export function fillPath(template: string, params: Record<string, string | number> | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params?.[name];
    if (value === undefined || value === '') throw new Error(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(String(value));
  });
}

function queryString(query: unknown): string {
  if (!query || typeof query !== 'object') return '';
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query as Record<string, unknown>)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, String(x)));
    else qs.append(k, String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

/**
 * The untyped core: one same-origin JSON request. `target` is a path (with its query).
 * Prefer `call()`, which checks everything against the schema.
 */
export async function rawRequest<T>(
  method: string,
  target: string,
  opts: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<ApiResponse<T>> {
  const upper = method.toUpperCase();
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
  const init: RequestInit = { method: upper, credentials: 'same-origin', headers };
  if (opts.signal) init.signal = opts.signal;
  if (typeof Blob !== 'undefined' && opts.body instanceof Blob) {
    // A file upload (e.g. an import): the bytes as they are, streamed by the browser.
    headers['Content-Type'] ??= opts.body.type || 'application/octet-stream';
    init.body = opts.body;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  if (UNSAFE_METHODS.has(upper)) {
    const token = csrfToken();
    if (token) headers['X-CSRFToken'] = token;
  }

  let res: Response;
  try {
    res = await fetch(target, init);
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection.');
  }

  if (res.status === 204) return { data: undefined as T, status: 204, headers: res.headers };

  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw new ApiError(0, 'network_error', 'The connection broke while reading the answer.');
  }
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (!res.ok) throw parseError(res.status, body);
  if (body === undefined) {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unexpected answer.');
  }
  return { data: body as T, status: res.status, headers: res.headers };
}

/** A typed call: the path template, its parameters and body are checked against the schema. */
export async function call<M extends Method, P extends PathsFor<M>>(
  method: M,
  path: P,
  ...[opts]: {} extends CallOptions<Operation<P, M>> ? [CallOptions<Operation<P, M>>?] : [CallOptions<Operation<P, M>>]
): Promise<ApiResponse<SuccessBody<Operation<P, M>>>> {
  const o = (opts ?? {}) as { path?: Record<string, string>; query?: unknown; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal };
  const target = fillPath(path, o.path) + queryString(o.query);
  return rawRequest<SuccessBody<Operation<P, M>>>(method, target, {
    body: o.body,
    headers: o.headers,
    signal: o.signal,
  });
}

/**
 * Turn a pagination URL from the server (absolute or relative) into a same-origin path,
 * refusing anything that points elsewhere than the expected collection.
 */
export function samePagePath(url: string, expectedPath: string): string {
  const base = typeof location !== 'undefined' ? location.origin : 'http://localhost';
  let parsed: URL;
  try {
    parsed = new URL(url, base);
  } catch {
    throw new ApiError(0, 'bad_response', 'The server sent an invalid page link.');
  }
  if (parsed.origin !== base || parsed.pathname.replace(/\/$/, '') !== expectedPath) {
    throw new ApiError(0, 'bad_response', 'The server sent an invalid page link.');
  }
  return parsed.pathname + parsed.search;
}
