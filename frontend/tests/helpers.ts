import { vi } from 'vitest';
import type { Me, Project } from '../src/api';

export interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  init: RequestInit;
}

type Responder = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

export function empty(status = 204): Response {
  return new Response(null, { status });
}

/**
 * Replace global fetch with a router keyed by "METHOD /path?query". Unknown requests
 * answer 599 so that tests notice them.
 */
export function mockFetch(routes: Record<string, Responder | Response | (() => Response)>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), location.origin);
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = (init.headers ?? {}) as Record<string, string>;
    const call: Call = {
      method,
      path: url.pathname + url.search,
      headers,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      init,
    };
    calls.push(call);
    if (init.signal?.aborted) throw new DOMException('Aborted', 'AbortError');
    const r = routes[`${method} ${call.path}`];
    if (r === undefined) return json(599, { error: { code: 'unmocked', message: `unmocked ${method} ${call.path}` } });
    if (r instanceof Response) return r.clone();
    return (r as Responder)(call);
  });
  vi.stubGlobal('fetch', fn);
  return { fn, calls };
}

export function setCookie(name: string, value: string): void {
  document.cookie = `${name}=${value}; path=/`;
}

export function clearCookie(name: string): void {
  document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
}

export const acme = { id: 't-acme', slug: 'acme', name: 'Acme Robotics' };
export const globex = { id: 't-globex', slug: 'globex', name: 'Globex' };

export function me(memberships: Me['memberships']): Me {
  return { id: 1, username: 'acme-manager', memberships };
}

export function project(overrides: Partial<Project> = {}): Project {
  return {
    id: 'p1',
    name: 'Sentiment',
    description: 'Label tweets',
    instructions: 'Be careful.\nSecond line.',
    label_schema: {
      version: 1,
      data: { text: { type: 'text' } },
      fields: [
        { name: 'sentiment', type: 'choices', choices: ['positive', 'negative', 'neutral'], multiple: false, required: true },
      ],
    },
    overlap: 2,
    lease_seconds: 600,
    ordering: 'priority',
    random_seed: 0,
    max_items_per_annotator: null,
    skipped_items_return: true,
    review_ratio: 0,
    gold_ratio: 0,
    created_by: { id: 1, username: 'acme-manager' },
    created_at: '2024-01-01T10:00:00Z',
    updated_at: '2024-01-02T10:00:00Z',
    permissions: ['view', 'annotate', 'manage'],
    ...overrides,
  };
}
