import { describe, expect, it } from 'vitest';
import { ApiError, call, fillPath } from '../src/api/client';
import { empty, json, mockFetch, setCookie } from './helpers';

describe('typed client', () => {
  it('fills and encodes path parameters, adds the query', async () => {
    const { calls } = mockFetch({
      'GET /api/v1/t/a%2Fb/projects?cursor=c1&page_size=5': json(200, { next: null, previous: null, results: [] }),
    });
    const { data, status } = await call('get', '/api/v1/t/{tenant}/projects', {
      path: { tenant: 'a/b' },
      query: { cursor: 'c1', page_size: 5 },
    });
    expect(status).toBe(200);
    expect(data.results).toEqual([]);
    expect(calls[0]!.init.credentials).toBe('same-origin');
  });

  it('returns status and headers, and undefined data for 204', async () => {
    setCookie('csrftoken', 'tok');
    const { calls } = mockFetch({
      'POST /api/v1/t/acme/projects/p1/next': () =>
        new Response(null, { status: 204, headers: { 'Annotate-Reason': 'exhausted' } }),
    });
    const res = await call('post', '/api/v1/t/{tenant}/projects/{project_id}/next', {
      path: { tenant: 'acme', project_id: 'p1' },
    });
    expect(res.status).toBe(204);
    expect(res.data).toBeUndefined();
    expect(res.headers.get('Annotate-Reason')).toBe('exhausted');
    expect(calls[0]!.headers['X-CSRFToken']).toBe('tok');
  });

  it('sends extra headers (Idempotency-Key) and the JSON body', async () => {
    const { calls } = mockFetch({
      'POST /api/v1/t/acme/projects/p1/leases/l1/submit': json(201, { id: 'a1' }),
    });
    await call('post', '/api/v1/t/{tenant}/projects/{project_id}/leases/{lease_id}/submit', {
      path: { tenant: 'acme', project_id: 'p1', lease_id: 'l1' },
      body: { result: { x: 1 } },
      headers: { 'Idempotency-Key': 'k1' },
    });
    expect(calls[0]!.headers['Idempotency-Key']).toBe('k1');
    expect(calls[0]!.body).toEqual({ result: { x: 1 } });
  });

  it('raises ApiError with the server code (lease_expired)', async () => {
    mockFetch({
      'POST /api/v1/t/acme/projects/p1/leases/l1/skip': json(409, {
        error: { code: 'lease_expired', message: 'Your lease on this item expired.' },
      }),
    });
    const err = await call('post', '/api/v1/t/{tenant}/projects/{project_id}/leases/{lease_id}/skip', {
      path: { tenant: 'acme', project_id: 'p1', lease_id: 'l1' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('lease_expired');
    expect((err as ApiError).status).toBe(409);
  });

  it('marks connection failures as network errors', async () => {
    mockFetch({ 'GET /api/v1/me': () => Promise.reject(new TypeError('Failed to fetch')) });
    const err = (await call('get', '/api/v1/me').catch((e: unknown) => e)) as ApiError;
    expect(err.isNetwork).toBe(true);
    mockFetch({ 'GET /api/v1/me': empty(204) });
  });

  it('refuses a missing path parameter', () => {
    expect(() => fillPath('/api/v1/t/{tenant}/projects', {})).toThrow(/tenant/);
  });

  it('checks paths and parameters at compile time', () => {
    // These lines are compiled by `npm run typecheck`; each must be a type error.
    const never = (): void => {
      // @ts-expect-error: no such endpoint
      void call('get', '/api/v1/t/{tenant}/nothing', { path: { tenant: 'x' } });
      // @ts-expect-error: the path parameter project_id is missing
      void call('get', '/api/v1/t/{tenant}/projects/{project_id}', { path: { tenant: 'x' } });
      // @ts-expect-error: GET has no request body
      void call('get', '/api/v1/me', { body: { x: 1 } });
    };
    expect(typeof never).toBe('function');
  });
});
