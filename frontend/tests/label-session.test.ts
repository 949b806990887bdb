import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkSession, type Lease } from '../src/label/session';
import { empty, json, mockFetch, setCookie, type Call } from './helpers';

const base = '/api/v1/t/acme/projects/p1';

function lease(id: string, text = `text ${id}`, seconds = 600): Lease {
  return {
    id,
    project_id: 'p1',
    state: 'active',
    leased_at: new Date().toISOString(),
    expires_at: new Date(Date.now() + seconds * 1000).toISOString(),
    closed_at: null,
    item: { id: `item-${id}`, external_id: `ext-${id}`, data: { text }, media: [], priority: 0 },
  };
}

/** A server that hands out leases l1, l2, ... and then says exhausted. */
function server(count: number, extra: Record<string, Response | ((c: Call) => Response | Promise<Response>)> = {}) {
  let n = 0;
  return mockFetch({
    [`GET ${base}/leases`]: json(200, []),
    [`POST ${base}/next`]: () => {
      n++;
      return n <= count ? json(201, lease(`l${n}`)) : new Response(null, { status: 204, headers: { 'Annotate-Reason': 'exhausted' } });
    },
    ...extra,
  });
}

beforeEach(() => setCookie('csrftoken', 't'));
afterEach(() => vi.useRealTimers());

describe('WorkSession', () => {
  it('holds the item on screen and the next one (two leases)', async () => {
    const { calls } = server(5);
    const s = new WorkSession('acme', 'p1');
    await s.start();
    expect(s.current?.id).toBe('l1');
    expect(s.upcoming?.id).toBe('l2');
    expect(calls.filter((c) => c.path.endsWith('/next'))).toHaveLength(2);
  });

  it('resumes leases held from an earlier visit', async () => {
    mockFetch({ [`GET ${base}/leases`]: json(200, [lease('old1'), lease('old2')]), [`POST ${base}/next`]: json(200, lease('old1')) });
    const s = new WorkSession('acme', 'p1');
    await s.start();
    expect([s.current?.id, s.upcoming?.id]).toEqual(['old1', 'old2']);
  });

  it('moves on at once on submit, then refills after the submit is stored', async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { calls } = server(3, {
      [`POST ${base}/leases/l1/submit?next=1`]: async () => {
        order.push('submit');
        await gate;
        return json(201, { id: 'a1' });
      },
    });
    const s = new WorkSession('acme', 'p1');
    await s.start();
    const done = s.submit(s.current!, { x: 1 });
    expect(s.current?.id).toBe('l2'); // no wait
    await Promise.resolve();
    expect(calls.filter((c) => c.path.endsWith('/next'))).toHaveLength(2); // refill waits
    release();
    await done;
    await s.settle();
    expect(s.upcoming?.id).toBe('l3');
    expect(order).toEqual(['submit']);
  });

  it('takes the next lease from the submit answer (?next=1): no extra request', async () => {
    const { calls } = server(2, {
      [`POST ${base}/leases/l1/submit?next=1`]: json(201, { id: 'a1', next: lease('l9'), next_reason: 'new' }),
    });
    const s = new WorkSession('acme', 'p1');
    await s.start();
    await s.submit(s.current!, { x: 1 });
    await s.settle();
    expect([s.current?.id, s.upcoming?.id]).toEqual(['l2', 'l9']);
    expect(calls.filter((c) => c.path.endsWith('/next'))).toHaveLength(2); // the two at start only
  });

  it('retries a submit lost on the network with the same Idempotency-Key', async () => {
    let attempts = 0;
    const { calls } = server(2, {
      [`POST ${base}/leases/l1/submit?next=1`]: () => {
        attempts++;
        if (attempts < 3) return Promise.reject(new TypeError('Failed to fetch'));
        return new Response(JSON.stringify({ id: 'a1' }), { status: 200, headers: { 'Idempotent-Replayed': 'true' } });
      },
    });
    const saved: boolean[] = [];
    const s = new WorkSession('acme', 'p1', { onSaved: (_l, _a, replayed) => saved.push(replayed) }, { retryDelays: [1, 1, 1] });
    await s.start();
    await s.submit(s.current!, { x: 1 });
    const keys = calls.filter((c) => c.path.includes('/submit')).map((c) => c.headers['Idempotency-Key']);
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toBeTruthy();
    expect(saved).toEqual([true]);
  });

  it('reports a refusal (lease expired) without retrying', async () => {
    const refused: string[] = [];
    const { calls } = server(2, {
      [`POST ${base}/leases/l1/submit?next=1`]: json(409, { error: { code: 'lease_expired', message: 'expired' } }),
    });
    const s = new WorkSession('acme', 'p1', { onRefused: (_l, e) => refused.push(e.code) }, { retryDelays: [1] });
    await s.start();
    await s.submit(s.current!, {});
    expect(refused).toEqual(['lease_expired']);
    expect(calls.filter((c) => c.path.includes('/submit'))).toHaveLength(1);
  });

  it('ends with the server\'s reason when nothing is left', async () => {
    mockFetch({
      [`GET ${base}/leases`]: json(200, []),
      [`POST ${base}/next`]: () => new Response(null, { status: 204, headers: { 'Annotate-Reason': 'limit_reached' } }),
    });
    const s = new WorkSession('acme', 'p1');
    await s.start();
    expect(s.current).toBeNull();
    expect(s.endReason).toBe('limit_reached');
  });

  it('skips and releases through their endpoints', async () => {
    const { calls } = server(2, {
      [`POST ${base}/leases/l1/skip`]: json(200, lease('l1')),
      [`POST ${base}/leases/l2/release`]: json(200, lease('l2')),
    });
    const s = new WorkSession('acme', 'p1');
    await s.start();
    await s.skip(s.current!);
    await s.settle();
    await s.releaseAll();
    expect(calls.map((c) => `${c.method} ${c.path.replace(base, '')}`)).toContain('POST /leases/l2/release');
    expect(calls.some((c) => c.path.endsWith('/l1/skip'))).toBe(true);
  });

  it('counts time by the server clock (Date header)', () => {
    const s = new WorkSession('acme', 'p1');
    s.skew = 5000; // the server is 5 s ahead
    const l = lease('x', 't', 10);
    expect(s.remaining(l)).toBeLessThan(5500);
    void empty;
  });
});
