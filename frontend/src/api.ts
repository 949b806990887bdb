/**
 * The app's API functions, built on the typed client in `./api/client` (the only module that
 * calls fetch). Types come from the generated `./api/schema.d.ts`; where the schema says a
 * JSON field is free-form (`unknown`: label schemas, item data, results), this module states
 * the shape the app relies on.
 *
 * Re-exports ApiError, isAbortError, parseError, readCookie, samePagePath so that screens
 * import one module.
 */

import {
  ApiError,
  call,
  isAbortError,
  parseError,
  readCookie,
  samePagePath,
  setCsrfFallback,
  type FieldErrors,
  type Schemas,
} from './api/client';

export { ApiError, call, isAbortError, parseError, readCookie, samePagePath };
export type { FieldErrors, Schemas };

export type Tenant = Schemas['TenantRef'];

export type Role = 'owner' | 'manager' | 'reviewer' | 'annotator' | 'viewer' | (string & {});

export type Membership = Schemas['MyMembership'] & { role: Role };

export type Me = Omit<Schemas['Me'], 'memberships'> & { memberships: Membership[] };

export type UserRef = Schemas['UserRef'];

export type Permission = 'view' | 'annotate' | 'review' | 'manage' | 'export' | (string & {});

export interface LabelField {
  name: string;
  type: string;
  title?: string;
  choices?: string[];
  labels?: string[];
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

/** A project as the server sends it; `label_schema` is validated server-side, so typed here. */
export type Project = Omit<Schemas['ProjectOutput'], 'label_schema' | 'permissions' | 'created_by'> & {
  label_schema: LabelSchema;
  permissions: Permission[];
  created_by: UserRef | null;
};

export interface Page<T> {
  next: string | null;
  previous: string | null;
  results: T[];
}

export type ProjectInput = Schemas['ProjectInputRequest'];

export const API_PREFIX = '/api/v1';

/** The `cursor` of a pagination link from the server, refusing links to anything else. */
export function cursorOf(url: string, expectedPath: string): string | undefined {
  const path = samePagePath(url, expectedPath);
  return new URLSearchParams(path.split('?')[1] ?? '').get('cursor') ?? undefined;
}

export async function getCsrf(signal?: AbortSignal): Promise<string> {
  const { data } = await call('get', '/api/v1/auth/csrf', { signal });
  setCsrfFallback(typeof data.csrfToken === 'string' ? data.csrfToken : null);
  return data.csrfToken;
}

export async function login(username: string, password: string): Promise<UserRef> {
  const { data } = await call('post', '/api/v1/auth/login', { body: { username, password } });
  return data;
}

export async function logout(): Promise<void> {
  await call('post', '/api/v1/auth/logout');
  setCsrfFallback(null);
}

/** Returns null when not logged in (401/403). */
export async function getMe(signal?: AbortSignal): Promise<Me | null> {
  try {
    const { data } = await call('get', '/api/v1/me', { signal });
    return data as Me;
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
  const collection = `${API_PREFIX}/t/${encodeURIComponent(slug)}/projects`;
  const cursor = cursorUrl ? cursorOf(cursorUrl, collection) : undefined;
  const { data } = await call('get', '/api/v1/t/{tenant}/projects', {
    path: { tenant: slug },
    query: cursor ? { cursor } : {},
    signal,
  });
  return data as unknown as Page<Project>;
}

export async function getProject(slug: string, id: string, signal?: AbortSignal): Promise<Project> {
  const { data } = await call('get', '/api/v1/t/{tenant}/projects/{project_id}', {
    path: { tenant: slug, project_id: id },
    signal,
  });
  return data as unknown as Project;
}

export async function createProject(slug: string, input: ProjectInput): Promise<Project> {
  const { data } = await call('post', '/api/v1/t/{tenant}/projects', { path: { tenant: slug }, body: input });
  return data as unknown as Project;
}

/** For tests only. */
export function _resetApiStateForTests(): void {
  setCsrfFallback(null);
}
