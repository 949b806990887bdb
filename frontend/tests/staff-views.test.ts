import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as api from '../src/api';
import { App } from '../src/app';
import { acme, clearCookie, empty, json, me, mockFetch, project, setCookie } from './helpers';

let app: App | null = null;
let root: HTMLElement;

const NOT_FOUND = { error: { code: 'not_found', message: 'Not found.' } };
const P = '/api/v1/t/acme/projects/p1';
const mReviewer = { id: 'm1', role: 'reviewer', tenant: acme };
const mOwner = { id: 'm2', role: 'owner', tenant: acme };
const mAuditor = { id: 'm3', role: 'auditor', tenant: acme };

function start(path: string): void {
  history.replaceState(null, '', path);
  root = document.createElement('div');
  document.body.appendChild(root);
  app = new App(root);
  void app.start();
}

const testid = (id: string): HTMLElement | null => root.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const key = (k: string, init: KeyboardEventInit = {}): void => {
  document.activeElement?.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true, ...init }));
};

const task = (id: string) => ({
  annotation: {
    id,
    item_id: `item-${id}`,
    lease_id: 'l',
    parent_id: null,
    author_id: 7,
    version: 1,
    status: 'pending_review',
    result: { sentiment: 'positive' },
    gold_score: null,
    lead_time_ms: 900,
    created_at: '2026-01-01T00:00:00Z',
  },
  item: { id: `item-${id}`, external_id: 'e1', data: { text: 'great <b>product</b>' }, media: [], priority: 0 },
  review_claim_expires: '2026-01-01T00:15:00Z',
});

beforeEach(() => {
  api._resetApiStateForTests();
  setCookie('csrftoken', 'tok');
});

afterEach(() => {
  app?.destroy();
  app = null;
  document.body.replaceChildren();
  clearCookie('csrftoken');
  history.replaceState(null, '', '/');
});

describe('review screen', () => {
  it('accepts with A, then rejects with R and a comment, then shows "nothing to review"', async () => {
    const queue = [task('an1'), task('an2')];
    const { calls } = mockFetch({
      'GET /api/v1/me': json(200, me([mReviewer])),
      [`GET ${P}`]: json(200, project({ permissions: ['view', 'review'] })),
      [`GET ${P}/stats`]: json(200, { items: {}, agreement: {}, annotators: [{ user_id: 7, username: 'ann-7' }], median_seconds_per_item: null }),
      [`POST ${P}/review/next`]: () => {
        const next = queue[0];
        return next ? json(200, next) : empty(204);
      },
      [`GET ${P}/annotations?item=item-an1&page_size=100`]: json(200, { next: null, previous: null, results: [task('an1').annotation] }),
      [`GET ${P}/annotations?item=item-an2&page_size=100`]: json(200, { next: null, previous: null, results: [task('an2').annotation] }),
      [`POST ${P}/annotations/an1/review`]: () => {
        queue.shift();
        return json(201, { id: 'r1' });
      },
      [`POST ${P}/annotations/an2/review`]: () => {
        queue.shift();
        return json(201, { id: 'r2' });
      },
    });
    start('/t/acme/projects/p1/review');
    await vi.waitFor(() => expect(testid('review-annotation-current')?.dataset.annotationId).toBe('an1'));
    expect(testid('review-annotation-current')!.textContent).toContain('by ann-7');
    expect(testid('review-item')!.querySelector('b')).toBeNull();
    expect(testid('tenant-badge')!.dataset.tenantSlug).toBe('acme');

    (document.activeElement as HTMLElement | null)?.blur();
    key('a');
    await vi.waitFor(() => expect(testid('review-annotation-current')?.dataset.annotationId).toBe('an2'));
    expect(calls.find((c) => c.path === `${P}/annotations/an1/review`)!.body).toEqual({ decision: 'accept' });
    expect(calls.find((c) => c.path === `${P}/annotations/an1/review`)!.headers['X-CSRFToken']).toBe('tok');

    key('r');
    await vi.waitFor(() => expect(testid('review-comment')).not.toBeNull());
    const comment = testid('review-comment') as HTMLTextAreaElement;
    expect(document.activeElement).toBe(comment);
    key('a'); // typing in the comment is not a shortcut
    comment.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(testid('review-error')?.textContent).toContain('needs a comment'));
    comment.value = 'wrong label';
    comment.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true, cancelable: true }));
    await vi.waitFor(() => expect(testid('review-empty')).not.toBeNull());
    const decisions = calls.filter((c) => c.path.endsWith('/review') && c.method === 'POST' && c.path.includes('annotations'));
    expect(decisions.map((c) => c.body)).toEqual([{ decision: 'accept' }, { decision: 'reject', comment: 'wrong label' }]);
  });

  it("corrects with C, a number key and Ctrl+Enter, using the annotators' controls", async () => {
    let corrected = false;
    const { calls } = mockFetch({
      'GET /api/v1/me': json(200, me([mReviewer])),
      [`GET ${P}`]: json(200, project({ permissions: ['view', 'review'] })),
      [`GET ${P}/stats`]: json(200, { items: {}, agreement: {}, annotators: [], median_seconds_per_item: null }),
      [`POST ${P}/review/next`]: () => (corrected ? empty(204) : json(200, task('an1'))),
      [`GET ${P}/annotations?item=item-an1&page_size=100`]: json(200, { next: null, previous: null, results: [task('an1').annotation] }),
      [`POST ${P}/annotations/an1/review`]: () => {
        corrected = true;
        return json(201, { id: 'r1' });
      },
    });
    start('/t/acme/projects/p1/review');
    await vi.waitFor(() => expect(testid('review-annotation-current')).not.toBeNull());
    (document.activeElement as HTMLElement | null)?.blur();
    key('c');
    await vi.waitFor(() => expect(testid('correction-editor')).not.toBeNull());
    // Prefilled with the result under review; focus in the first question.
    expect(testid('field-sentiment')!.contains(document.activeElement)).toBe(true);
    key('2');
    key('Enter', { ctrlKey: true });
    await vi.waitFor(() => expect(testid('review-empty')).not.toBeNull());
    const post = calls.find((c) => c.path === `${P}/annotations/an1/review`)!;
    expect(post.body).toEqual({ decision: 'correct', result: { sentiment: 'negative' }, comment: '' });
  });

  it('shows "not found" for a project of another tenant', async () => {
    mockFetch({
      'GET /api/v1/me': json(200, me([mReviewer])),
      [`GET ${P}`]: json(404, NOT_FOUND),
      [`POST ${P}/review/next`]: json(404, NOT_FOUND),
    });
    start('/t/acme/projects/p1/review');
    await vi.waitFor(() => expect(testid('not-found')).not.toBeNull());
    expect(testid('tenant-badge')!.dataset.tenantSlug).toBe('acme');
  });
});

describe('competitors and audit screens', () => {
  it('adds a competitor and shows a refused slug naming the field', async () => {
    let rows: unknown[] = [];
    const { calls } = mockFetch({
      'GET /api/v1/me': json(200, me([mOwner])),
      'GET /api/v1/t/acme/competitors': () => json(200, rows),
      'POST /api/v1/t/acme/competitors': (c) => {
        const body = c.body as { competitor: string };
        if (body.competitor !== 'globex') {
          return json(400, { error: { code: 'invalid', message: 'Invalid input.', fields: { competitor: ["no active tenant has the slug 'x'"] } } });
        }
        rows = [{ id: 'c1', competitor: 'globex', note: '', created_at: '2026-01-01T00:00:00Z' }];
        return json(201, rows[0]);
      },
    });
    start('/t/acme/competitors');
    await vi.waitFor(() => expect(testid('no-competitors')).not.toBeNull());
    const input = testid('competitor-slug') as HTMLInputElement;
    input.value = 'x';
    testid('competitor-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(testid('competitor-form-error')?.textContent).toContain('competitor: no active tenant'));
    input.value = 'globex';
    testid('competitor-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(root.querySelector('[data-competitor="globex"]')).not.toBeNull());
    expect(calls.filter((c) => c.method === 'POST').map((c) => c.body)).toEqual([
      { competitor: 'x', note: '' },
      { competitor: 'globex', note: '' },
    ]);
    expect(testid('nav-competitors')).not.toBeNull();
  });

  it('sends the log filters as query parameters and pages with the cursor', async () => {
    const event = (id: number, outcome: string) => ({
      id,
      seq: id,
      occurred_at: '2026-01-01T00:00:00Z',
      actor_user_id: 1,
      actor_username: 'bob',
      actor_membership_id: null,
      actor_role: 'manager',
      auth_method: 'session',
      credential_id: '',
      grant_id: null,
      action: 'project.read',
      resource_type: 'project',
      resource_id: 'p1',
      outcome,
      reason: '',
      status_code: null,
      request_id: '',
      client_ip: null,
      detail: {},
    });
    const { calls } = mockFetch({
      'GET /api/v1/me': json(200, me([mAuditor])),
      'GET /api/v1/t/acme/audit/events?page_size=50': json(200, { next: null, previous: null, results: [event(2, 'allowed'), event(1, 'denied')] }),
      'GET /api/v1/t/acme/audit/events?actor=bob&outcome=denied&page_size=50': json(200, {
        next: 'http://localhost:3000/api/v1/t/acme/audit/events?cursor=abc&actor=bob',
        previous: null,
        results: [event(1, 'denied')],
      }),
      'GET /api/v1/t/acme/audit/events?actor=bob&outcome=denied&cursor=abc&page_size=50': json(200, { next: null, previous: null, results: [event(0, 'denied')] }),
    });
    start('/t/acme/audit');
    await vi.waitFor(() => expect(root.querySelectorAll('[data-testid=audit-event]')).toHaveLength(2));
    (testid('audit-filter-actor') as HTMLInputElement).value = 'bob';
    (testid('audit-filter-outcome') as HTMLSelectElement).value = 'denied';
    testid('audit-filters')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(root.querySelectorAll('[data-testid=audit-event]')).toHaveLength(1));
    expect(location.search).toBe('?actor=bob&outcome=denied');
    expect(testid('audit-csv')!.getAttribute('href')).toBe('/api/v1/t/acme/audit/events.csv?actor=bob&outcome=denied');
    expect(testid('audit-more')!.hidden).toBe(false);
    testid('audit-more')!.click();
    await vi.waitFor(() => expect(root.querySelectorAll('[data-testid=audit-event]')).toHaveLength(2));
    expect(calls.at(-1)!.path).toContain('cursor=abc');

    // Only break-glass access: the boolean filter goes to the API and into the CSV link.
    (testid('audit-filter-actor') as HTMLInputElement).value = '';
    (testid('audit-filter-outcome') as HTMLSelectElement).value = '';
    (testid('audit-filter-break_glass') as HTMLInputElement).checked = true;
    testid('audit-filters')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(calls.at(-1)!.path).toBe('/api/v1/t/acme/audit/events?break_glass=true&page_size=50'));
    expect(testid('audit-csv')!.getAttribute('href')).toBe('/api/v1/t/acme/audit/events.csv?break_glass=true');
    expect(location.search).toBe('?break_glass=true');
  });

  it('tells a manager the log is for auditors and owners', async () => {
    mockFetch({ 'GET /api/v1/me': json(200, me([{ id: 'm4', role: 'manager', tenant: acme }])) });
    start('/t/acme/audit');
    await vi.waitFor(() => expect(testid('audit-forbidden')).not.toBeNull());
  });
});
