import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ViewContext } from '../src/views/context';
import { renderLabel } from '../src/views/label';
import { renderWorkRow } from '../src/views/work';
import { json, me, mockFetch, project, setCookie, acme } from './helpers';

const base = '/api/v1/t/acme/projects/p1';

function lease(id: string, text: string) {
  return {
    id,
    project_id: 'p1',
    state: 'active',
    leased_at: null,
    expires_at: new Date(Date.now() + 600_000).toISOString(),
    closed_at: null,
    item: { id: `i-${id}`, external_id: `ext-${id}`, data: { text }, media: [], priority: 0 },
  };
}

let controller: AbortController;
let root: HTMLElement;

function ctx(): ViewContext {
  return {
    signal: controller.signal,
    me: me([{ id: 'm1', role: 'annotator', tenant: acme }]),
    membership: { id: 'm1', role: 'annotator', tenant: acme },
    navigate: () => {},
    setTitle: () => {},
    fail: (err) => {
      throw err;
    },
  };
}

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await tick(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}
const press = (key: string, target: Element = document.activeElement ?? document.body): void => {
  target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }));
};

beforeEach(() => {
  setCookie('csrftoken', 't');
  controller = new AbortController();
});
afterEach(() => {
  controller.abort();
  root?.remove();
});

function serve() {
  let n = 0;
  const texts = ['<script>alert(1)</script> first', 'second', 'third'];
  return mockFetch({
    [`GET ${base}`]: json(200, project({ permissions: ['view', 'annotate'] })),
    [`GET ${base}/leases`]: json(200, []),
    [`POST ${base}/next`]: () => {
      n++;
      const t = texts[n - 1];
      return t ? json(201, lease(`l${n}`, t)) : new Response(null, { status: 204, headers: { 'Annotate-Reason': 'exhausted' } });
    },
    [`POST ${base}/leases/l1/submit?next=1`]: json(201, { id: 'a1' }),
    [`POST ${base}/leases/l2/skip`]: json(200, lease('l2', 'second')),
    [`POST ${base}/leases/l3/release`]: json(200, lease('l3', 'third')),
  });
}

describe('labeling screen', () => {
  it('labels by keyboard: a number, Enter submits, the next item is already there; S skips', async () => {
    const { calls } = serve();
    root = renderLabel(ctx(), 'acme', 'p1');
    document.body.appendChild(root);
    await until(() => !!root.querySelector('[data-testid=label-item]'), 'the first item');
    const item = (): HTMLElement => root.querySelector('[data-testid=label-item]')!;
    expect(item().dataset.leaseId).toBe('l1');
    // Item text is text: the script tag is shown, not run or parsed.
    expect(root.querySelector('script')).toBeNull();
    expect(root.textContent).toContain('<script>alert(1)</script> first');

    press('Enter'); // nothing chosen yet: refused with a message, nothing sent
    expect(root.querySelector('[data-testid=status-line]')!.textContent).toMatch(/Choose/);
    expect(calls.some((c) => c.path.includes('/submit'))).toBe(false);

    press('2');
    press('Enter');
    expect(item().dataset.leaseId).toBe('l2'); // synchronously: prefetched
    await until(() => calls.some((c) => c.path.includes('/submit')), 'the submit');
    const submit = calls.find((c) => c.path.includes('/submit'))!;
    expect(submit.body).toEqual({ result: { sentiment: 'negative' } });
    expect(submit.headers['Idempotency-Key']).toBeTruthy();

    press('?');
    expect(root.querySelector<HTMLElement>('[data-testid=shortcut-overlay]')!.hidden).toBe(false);
    press('Escape');
    expect(root.querySelector<HTMLElement>('[data-testid=shortcut-overlay]')!.hidden).toBe(true);

    await until(() => calls.filter((c) => c.path.endsWith('/next')).length === 3, 'the refill');
    press('s');
    await until(() => item()?.dataset.leaseId === 'l3', 'the third item');
    expect(calls.some((c) => c.path.endsWith('/l2/skip'))).toBe(true);
    expect(root.querySelector('[data-testid=lease-countdown]')!.textContent).toMatch(/Time left (9|10):/);
  });

  it('undo and redo with Ctrl+Z and Ctrl+Shift+Z', async () => {
    serve();
    root = renderLabel(ctx(), 'acme', 'p1');
    document.body.appendChild(root);
    await until(() => !!root.querySelector('[data-testid=label-item]'), 'the item');
    const selected = (): string | undefined => root.querySelector('.choice.selected')?.getAttribute('data-choice') ?? undefined;
    press('1');
    press('3');
    expect(selected()).toBe('neutral');
    document.activeElement!.dispatchEvent(new KeyboardEvent('keydown', { key: 'z', ctrlKey: true, bubbles: true }));
    expect(selected()).toBe('positive');
    document.activeElement!.dispatchEvent(new KeyboardEvent('keydown', { key: 'z', ctrlKey: true, shiftKey: true, bubbles: true }));
    expect(selected()).toBe('neutral');
  });
});

describe('my work', () => {
  it('shows progress and a start link, names as text', () => {
    const row = renderWorkRow('acme', {
      project_id: 'p1',
      name: '<b>P</b>',
      items_total: 4,
      items_completed: 1,
      submitted: 2,
      skipped: 1,
      active_leases: 0,
    });
    expect(row.querySelector('b')).toBeNull();
    expect(row.textContent).toContain('1 of 4 items complete (25%)');
    expect(row.querySelector('[data-testid=start-labeling]')!.getAttribute('href')).toBe('/t/acme/projects/p1/label');
  });
});

describe('routes', () => {
  it('maps the annotator paths', async () => {
    const { matchRoute } = await import('../src/router');
    expect(matchRoute('/t/acme/work')).toEqual({ name: 'work', slug: 'acme' });
    expect(matchRoute('/t/acme/projects/p%201/label')).toEqual({ name: 'label', slug: 'acme', id: 'p 1' });
    expect(matchRoute('/t/acme/projects/new/label').name).toBe('not-found');
    expect(matchRoute('/t/acme/work/x').name).toBe('not-found');
  });
});

describe('leaving and refusals', () => {
  it('gives held leases back when the annotator leaves the screen', async () => {
    const { calls } = serve();
    root = renderLabel(ctx(), 'acme', 'p1');
    document.body.appendChild(root);
    await until(() => !!root.querySelector('[data-testid=label-item]'), 'the item');
    await until(() => calls.filter((c) => c.path.endsWith('/next')).length === 2, 'the prefetch');
    mockFetch({
      [`POST ${base}/leases/l1/release`]: json(200, lease('l1', 'x')),
      [`POST ${base}/leases/l2/release`]: json(200, lease('l2', 'y')),
    });
    const released = (globalThis.fetch as unknown as { mock: { calls: unknown[][] } }).mock;
    controller.abort();
    await until(() => released.calls.length === 2, 'two releases');
    expect(released.calls.map((c) => String(c[0]))).toEqual([`${base}/leases/l1/release`, `${base}/leases/l2/release`]);
  });

  it('a refused answer (400) is reported with a way back to the item', async () => {
    let n = 0;
    mockFetch({
      [`GET ${base}`]: json(200, project({ permissions: ['view', 'annotate'] })),
      [`GET ${base}/leases`]: json(200, []),
      [`POST ${base}/next`]: () => {
        n++;
        return n <= 2 ? json(201, lease(`l${n}`, `t${n}`)) : new Response(null, { status: 204, headers: { 'Annotate-Reason': 'exhausted' } });
      },
      [`POST ${base}/leases/l1/submit?next=1`]: json(400, {
        error: { code: 'invalid', message: 'Invalid input.', fields: { 'result.sentiment': ['must be one of: x'] } },
      }),
    });
    root = renderLabel(ctx(), 'acme', 'p1');
    document.body.appendChild(root);
    await until(() => !!root.querySelector('[data-testid=label-item]'), 'the item');
    press('1');
    press('Enter');
    await until(() => !!root.querySelector('[data-testid=notice-error]'), 'the notice');
    const notice = root.querySelector('[data-testid=notice-error]')!;
    expect(notice.textContent).toContain('result.sentiment: must be one of: x');
    notice.querySelector('button')!.click();
    expect(root.querySelector<HTMLElement>('[data-testid=label-item]')!.dataset.leaseId).toBe('l1');
  });
});
