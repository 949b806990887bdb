import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as api from '../src/api';
import { clearCookie, empty, json, mockFetch, setCookie } from './helpers';

beforeEach(() => {
  api._resetApiStateForTests();
  setCookie('csrftoken', 'tok123');
});

afterEach(() => {
  clearCookie('csrftoken');
});

describe('CSRF and credentials', () => {
  it('sends X-CSRFToken from the csrftoken cookie on POST', async () => {
    const { calls } = mockFetch({ 'POST /api/v1/auth/login': json(200, { id: 1, username: 'u' }) });
    const user = await api.login('u', 'pw');
    expect(user).toEqual({ id: 1, username: 'u' });
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.headers['X-CSRFToken']).toBe('tok123');
    expect(call.headers['Content-Type']).toBe('application/json');
    expect(call.init.credentials).toBe('same-origin');
    expect(call.body).toEqual({ username: 'u', password: 'pw' });
  });

  it('sends the header on every unsafe call (logout, create project)', async () => {
    const { calls } = mockFetch({
      'POST /api/v1/auth/logout': empty(204),
      'POST /api/v1/t/acme/projects': json(201, { id: 'p1' }),
    });
    await expect(api.logout()).resolves.toBeUndefined();
    await api.createProject('acme', { name: 'n', description: '', instructions: '', overlap: 1, label_schema: {} });
    expect(calls.map((c) => c.headers['X-CSRFToken'])).toEqual(['tok123', 'tok123']);
    expect(calls.every((c) => c.init.credentials === 'same-origin')).toBe(true);
  });

  it('does not send the CSRF header on GET', async () => {
    const { calls } = mockFetch({ 'GET /api/v1/me': json(200, { id: 1, username: 'u', memberships: [] }) });
    await api.getMe();
    expect(calls[0]!.headers['X-CSRFToken']).toBeUndefined();
    expect(calls[0]!.init.credentials).toBe('same-origin');
  });

  it('falls back to the token from GET /auth/csrf when no cookie is readable', async () => {
    clearCookie('csrftoken');
    const { calls } = mockFetch({
      'GET /api/v1/auth/csrf': json(200, { csrfToken: 'fromBody' }),
      'POST /api/v1/auth/login': json(200, { id: 1, username: 'u' }),
    });
    await api.getCsrf();
    await api.login('u', 'pw');
    expect(calls[1]!.headers['X-CSRFToken']).toBe('fromBody');
  });

  it('reads URL-encoded cookie values among others', () => {
    expect(api.readCookie('csrftoken', 'a=1; csrftoken=x%2By; b=2')).toBe('x+y');
    expect(api.readCookie('csrftoken', 'notcsrftoken=1')).toBeNull();
  });
});

describe('error parsing', () => {
  it('turns a 400 error body into ApiError with code, message and fields', async () => {
    mockFetch({
      'POST /api/v1/t/acme/projects': json(400, {
        error: {
          code: 'invalid',
          message: 'Invalid input.',
          fields: { label_schema: ['fields[0].choices: must be a non-empty list of unique strings'] },
        },
      }),
    });
    const err = await api
      .createProject('acme', { name: '', description: '', instructions: '', overlap: 1, label_schema: {} })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(api.ApiError);
    const e = err as api.ApiError;
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid');
    expect(e.message).toBe('Invalid input.');
    expect(e.fields).toEqual({
      label_schema: ['fields[0].choices: must be a non-empty list of unique strings'],
    });
  });

  it('marks 404 as not found', async () => {
    mockFetch({
      'GET /api/v1/t/acme/projects/nope': json(404, { error: { code: 'not_found', message: 'Not found.' } }),
    });
    const e = (await api.getProject('acme', 'nope').catch((x: unknown) => x)) as api.ApiError;
    expect(e.isNotFound).toBe(true);
    expect(e.code).toBe('not_found');
    expect(e.fields).toEqual({});
  });

  it('copes with non-JSON error bodies', async () => {
    mockFetch({ 'GET /api/v1/t/acme/projects': () => new Response('<h1>Server Error</h1>', { status: 500 }) });
    const e = (await api.listProjects('acme').catch((x: unknown) => x)) as api.ApiError;
    expect(e).toBeInstanceOf(api.ApiError);
    expect(e.status).toBe(500);
    expect(e.code).toBe('server_error');
  });

  it('normalises odd field shapes', () => {
    const e = api.parseError(400, { error: { code: 'x', message: 'm', fields: { a: 'single', b: ['one', 2] } } });
    expect(e.fields).toEqual({ a: ['single'], b: ['one', '2'] });
  });

  it('reports network failures', async () => {
    mockFetch({ 'GET /api/v1/me': () => Promise.reject(new TypeError('Failed to fetch')) });
    const e = (await api.getMe().catch((x: unknown) => x)) as api.ApiError;
    expect(e.code).toBe('network_error');
    expect(e.status).toBe(0);
  });

  it('getMe returns null when not logged in (401 or 403)', async () => {
    mockFetch({ 'GET /api/v1/me': json(403, { error: { code: 'not_authenticated', message: 'x' } }) });
    await expect(api.getMe()).resolves.toBeNull();
    mockFetch({ 'GET /api/v1/me': json(401, { error: { code: 'not_authenticated', message: 'x' } }) });
    await expect(api.getMe()).resolves.toBeNull();
  });
});

describe('paths and pagination', () => {
  it('encodes slugs and ids', async () => {
    const { calls } = mockFetch({});
    await api.getProject('a/b', 'x y').catch(() => undefined);
    expect(calls[0]!.path).toBe('/api/v1/t/a%2Fb/projects/x%20y');
  });

  it('follows a same-origin cursor URL (absolute or relative)', async () => {
    const page = { next: null, previous: null, results: [] };
    const { calls } = mockFetch({ 'GET /api/v1/t/acme/projects?cursor=abc': json(200, page) });
    await api.listProjects('acme', `${location.origin}/api/v1/t/acme/projects?cursor=abc`);
    await api.listProjects('acme', '/api/v1/t/acme/projects?cursor=abc');
    expect(calls.map((c) => c.path)).toEqual([
      '/api/v1/t/acme/projects?cursor=abc',
      '/api/v1/t/acme/projects?cursor=abc',
    ]);
  });

  it('refuses cursor URLs for another origin or another collection', async () => {
    const { calls } = mockFetch({});
    await expect(api.listProjects('acme', 'https://evil.example/api/v1/t/acme/projects?cursor=1')).rejects.toThrow(
      api.ApiError,
    );
    await expect(api.listProjects('acme', '/api/v1/t/other/projects?cursor=1')).rejects.toThrow(api.ApiError);
    expect(calls).toHaveLength(0);
  });
});
