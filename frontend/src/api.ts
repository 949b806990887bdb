/**
 * Typed client for the JSON API. This is the ONLY module that calls fetch().
 *
 * - Same-origin requests only, with `credentials: 'same-origin'`.
 * - Unsafe methods (POST/PATCH/PUT/DELETE) carry `X-CSRFToken` from the `csrftoken` cookie.
 * - Non-2xx answers become an ApiError parsed from `{"error": {"code", "message", "fields"}}`.
 */

export interface Tenant {
  id: string;
  slug: string;
  name: string;
}

export type Role = 'owner' | 'manager' | 'reviewer' | 'annotator' | 'viewer' | (string & {});

export interface Membership {
  id: string;
  role: Role;
  tenant: Tenant;
}

export interface Me {
  id: number;
  username: string;
  memberships: Membership[];
}

export interface UserRef {
  id: number;
  username: string;
}

export type Permission = 'view' | 'annotate' | 'review' | 'manage' | 'export' | (string & {});

export interface LabelField {
  name: string;
  type: string;
  choices?: string[];
  multiple?: boolean;
  required?: boolean;
  [extra: string]: unknown;
}

export interface LabelSchema {
  version: number;
  data?: Record<string, { type: string; [extra: string]: unknown }>;
  fields: LabelField[];
  [extra: string]: unknown;
}

export interface Project {
  id: string;
  name: string;
  description: string;
  instructions: string;
  label_schema: LabelSchema;
  overlap: number;
  created_by: UserRef | null;
  created_at: string;
  updated_at: string;
  permissions: Permission[];
}

export interface Page<T> {
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface ProjectInput {
  name: string;
  description: string;
  instructions: string;
  label_schema: unknown;
  overlap: number;
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
}

/** True for errors raised because the request was aborted (navigation away). */
export function isAbortError(err: unknown): boolean {
  return err instanceof DOMException
    ? err.name === 'AbortError'
    : typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

export const API_PREFIX = '/api/v1';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CSRF_COOKIE = 'csrftoken';

/** Last token returned by GET /auth/csrf; used only if the cookie cannot be read. */
let lastCsrfToken: string | null = null;

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
  const err =
    typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown; fields?: unknown };
    const code = typeof e.code === 'string' && e.code ? e.code : statusCode(status);
    const message =
      typeof e.message === 'string' && e.message ? e.message : defaultMessage(status);
    return new ApiError(status, code, message, normaliseFields(e.fields));
  }
  return new ApiError(status, statusCode(status), defaultMessage(status));
}

interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
}

async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const init: RequestInit = { method, credentials: 'same-origin', headers };
  if (opts.signal) init.signal = opts.signal;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  if (UNSAFE_METHODS.has(method)) {
    const token = csrfToken();
    if (token) headers['X-CSRFToken'] = token;
  }

  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (isAbortError(err)) throw err;
    throw new ApiError(0, 'network_error', 'Could not reach the server. Check your connection.');
  }

  if (res.status === 204) return undefined as T;

  const text = await res.text();
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
  return body as T;
}

function tenantBase(slug: string): string {
  return `${API_PREFIX}/t/${encodeURIComponent(slug)}`;
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

export async function getCsrf(signal?: AbortSignal): Promise<string> {
  const res = await request<{ csrfToken: string }>('GET', `${API_PREFIX}/auth/csrf`, { signal });
  lastCsrfToken = typeof res.csrfToken === 'string' ? res.csrfToken : null;
  return res.csrfToken;
}

export async function login(username: string, password: string): Promise<UserRef> {
  return request<UserRef>('POST', `${API_PREFIX}/auth/login`, { body: { username, password } });
}

export async function logout(): Promise<void> {
  await request<void>('POST', `${API_PREFIX}/auth/logout`);
  lastCsrfToken = null;
}

/** Returns null when not logged in (401/403). */
export async function getMe(signal?: AbortSignal): Promise<Me | null> {
  try {
    return await request<Me>('GET', `${API_PREFIX}/me`, { signal });
  } catch (err) {
    if (err instanceof ApiError && err.isUnauthenticated) return null;
    throw err;
  }
}

/** First page, or the page at `cursorUrl` (the `next` link of a previous page). */
export async function listProjects(
  slug: string,
  cursorUrl?: string | null,
  signal?: AbortSignal,
): Promise<Page<Project>> {
  const collection = `${tenantBase(slug)}/projects`;
  const path = cursorUrl ? samePagePath(cursorUrl, collection) : collection;
  return request<Page<Project>>('GET', path, { signal });
}

export async function getProject(slug: string, id: string, signal?: AbortSignal): Promise<Project> {
  return request<Project>('GET', `${tenantBase(slug)}/projects/${encodeURIComponent(id)}`, {
    signal,
  });
}

export async function createProject(slug: string, input: ProjectInput): Promise<Project> {
  return request<Project>('POST', `${tenantBase(slug)}/projects`, { body: input });
}

/** For tests only. */
export function _resetApiStateForTests(): void {
  lastCsrfToken = null;
}
