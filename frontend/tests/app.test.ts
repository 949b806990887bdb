import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as api from '../src/api';
import { App } from '../src/app';
import { navigate } from '../src/router';
import { acme, clearCookie, globex, json, me, mockFetch, project, setCookie } from './helpers';

let app: App | null = null;
let root: HTMLElement;

const NOT_FOUND = { error: { code: 'not_found', message: 'Not found.' } };
const mAcme = { id: 'm1', role: 'manager', tenant: acme };
const mGlobex = { id: 'm2', role: 'annotator', tenant: globex };

function start(path: string): App {
  history.replaceState(null, '', path);
  root = document.createElement('div');
  document.body.appendChild(root);
  app = new App(root);
  void app.start();
  return app;
}

const q = <T extends Element = HTMLElement>(sel: string): T | null => root.querySelector<T>(sel);
const testid = (id: string) => q(`[data-testid="${id}"]`);

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

describe('login', () => {
  it('shows the login form when not logged in and an error on bad credentials', async () => {
    const { calls } = mockFetch({
      'GET /api/v1/me': json(403, { error: { code: 'not_authenticated', message: 'x' } }),
      'GET /api/v1/auth/csrf': json(200, { csrfToken: 'tok' }),
      'POST /api/v1/auth/login': json(400, {
        error: { code: 'invalid_credentials', message: 'Invalid username or password.' },
      }),
    });
    start('/');
    await vi.waitFor(() => expect(testid('login-form')).not.toBeNull());
    expect(testid('app-header')?.hidden).toBe(true);

    q<HTMLInputElement>('#login-username')!.value = 'bob';
    q<HTMLInputElement>('#login-password')!.value = 'wrong';
    testid('login-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(testid('login-error')?.textContent).toBe('Invalid username or password.'));
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /api/v1/me',
      'GET /api/v1/auth/csrf',
      'POST /api/v1/auth/login',
    ]);
    expect(q<HTMLInputElement>('#login-password')!.value).toBe('');
  });

  it('goes straight to the only tenant after login', async () => {
    let loggedIn = false;
    mockFetch({
      'GET /api/v1/me': () =>
        loggedIn ? json(200, me([mAcme])) : json(403, { error: { code: 'not_authenticated', message: 'x' } }),
      'GET /api/v1/auth/csrf': json(200, { csrfToken: 'tok' }),
      'POST /api/v1/auth/login': () => {
        loggedIn = true;
        return json(200, { id: 1, username: 'acme-manager' });
      },
      'GET /api/v1/t/acme/projects': json(200, { next: null, previous: null, results: [project()] }),
    });
    start('/');
    await vi.waitFor(() => expect(testid('login-form')).not.toBeNull());
    q<HTMLInputElement>('#login-username')!.value = 'acme-manager';
    q<HTMLInputElement>('#login-password')!.value = 'pw';
    testid('login-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(root.querySelectorAll('[data-testid="project-row"]').length).toBe(1));
    expect(location.pathname).toBe('/t/acme/projects');
  });
});

describe('signed in', () => {
  it('shows the tenant in the header, the project list and loads more', async () => {
    mockFetch({
      'GET /api/v1/me': json(200, me([mAcme, mGlobex])),
      'GET /api/v1/t/acme/projects': json(200, {
        next: `${location.origin}/api/v1/t/acme/projects?cursor=c2`,
        previous: null,
        results: [project({ id: 'p1', name: 'First' })],
      }),
      'GET /api/v1/t/acme/projects?cursor=c2': json(200, {
        next: null,
        previous: null,
        results: [project({ id: 'p2', name: 'Second' })],
      }),
    });
    start('/t/acme/projects');
    await vi.waitFor(() => expect(root.querySelectorAll('[data-testid="project-row"]').length).toBe(1));

    const badge = testid('tenant-badge')!;
    expect(badge.textContent).toContain('Acme Robotics');
    expect(badge.textContent).toContain('acme');
    expect(testid('current-user')?.textContent).toBe('acme-manager');
    const options = [...q<HTMLSelectElement>('[data-testid="tenant-switcher"]')!.options].map((o) => o.textContent);
    expect(options).toEqual(['Acme Robotics (acme) — manager', 'Globex (globex) — annotator']);
    expect(testid('new-project-link')).not.toBeNull();

    const more = testid('load-more') as HTMLButtonElement;
    expect(more.hidden).toBe(false);
    more.click();
    await vi.waitFor(() => expect(root.querySelectorAll('[data-testid="project-row"]').length).toBe(2));
    expect(more.hidden).toBe(true);
    const names = [...root.querySelectorAll('[data-testid="project-link"]')].map((a) => a.textContent);
    expect(names).toEqual(['First', 'Second']);
  });

  it('shows a chooser at / for several memberships and switches tenant explicitly', async () => {
    mockFetch({
      'GET /api/v1/me': json(200, me([mAcme, mGlobex])),
      'GET /api/v1/t/globex/projects': json(200, { next: null, previous: null, results: [] }),
    });
    start('/');
    await vi.waitFor(() => expect(testid('tenant-chooser')).not.toBeNull());
    expect(root.querySelectorAll('[data-testid="tenant-choice"]').length).toBe(2);
    expect(testid('tenant-badge')?.textContent).toContain('No tenant selected');

    const select = q<HTMLSelectElement>('[data-testid="tenant-switcher"]')!;
    select.value = 'globex';
    select.dispatchEvent(new Event('change', { bubbles: true }));
    expect(location.pathname).toBe('/'); // changing the select alone does not navigate
    testid('tenant-switcher-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(testid('no-projects')).not.toBeNull());
    expect(location.pathname).toBe('/t/globex/projects');
    expect(testid('tenant-name')?.textContent).toBe('Globex');
    // annotators get no "New project" link
    expect(testid('new-project-link')).toBeNull();
  });

  it('shows the same Not found screen for a missing project and a foreign tenant', async () => {
    const { calls } = mockFetch({
      'GET /api/v1/me': json(200, me([mAcme])),
      'GET /api/v1/t/acme/projects/nope': json(404, NOT_FOUND),
    });
    start('/t/acme/projects/nope');
    await vi.waitFor(() => expect(testid('not-found')).not.toBeNull());
    const missingProject = testid('not-found')!.outerHTML;

    navigate('/t/other-co/projects');
    await vi.waitFor(() => expect(location.pathname).toBe('/t/other-co/projects'));
    await vi.waitFor(() => expect(testid('not-found')).not.toBeNull());
    expect(testid('not-found')!.outerHTML).toBe(missingProject);
    // No request about the foreign tenant's data was made: only /me was re-checked.
    expect(calls.some((c) => c.path.startsWith('/api/v1/t/other-co'))).toBe(false);
  });

  it('shows Not found when the API answers 404 for the tenant list', async () => {
    mockFetch({
      'GET /api/v1/me': json(200, me([mAcme])),
      'GET /api/v1/t/acme/projects': json(404, NOT_FOUND),
    });
    start('/t/acme/projects');
    await vi.waitFor(() => expect(testid('not-found')).not.toBeNull());
  });

  it('shows project details with instructions as text and schema fields', async () => {
    mockFetch({
      'GET /api/v1/me': json(200, me([mAcme])),
      'GET /api/v1/t/acme/projects/p1': json(200, project()),
    });
    start('/t/acme/projects/p1');
    await vi.waitFor(() => expect(testid('project-detail')).not.toBeNull());
    expect(testid('project-name')?.textContent).toBe('Sentiment');
    expect(testid('project-instructions')?.textContent).toBe('Be careful.\nSecond line.');
    expect(testid('schema-field')?.textContent).toContain('sentiment');
    expect(testid('schema-field')?.textContent).toContain('positive');
  });

  it('new project: validates the schema as you type and shows server field errors', async () => {
    const { calls } = mockFetch({
      'GET /api/v1/me': json(200, me([mAcme])),
      'POST /api/v1/t/acme/projects': json(400, {
        error: {
          code: 'invalid',
          message: 'Invalid input.',
          fields: {
            name: ['A project with this name already exists.'],
            label_schema: ['fields[0].choices: must be a non-empty list of unique strings'],
          },
        },
      }),
    });
    start('/t/acme/projects/new');
    await vi.waitFor(() => expect(testid('project-form')).not.toBeNull());
    expect(testid('schema-status')?.textContent).toMatch(/looks valid/);

    const schema = q<HTMLTextAreaElement>('[data-testid="project-field-label_schema"]')!;
    schema.value = '{\n  "version": 1,\n}';
    schema.dispatchEvent(new Event('input'));
    expect(testid('schema-status')?.textContent).toBe('Line 3, column 1: Trailing comma is not allowed');
    expect(schema.getAttribute('aria-invalid')).toBe('true');

    // Client-side blocking: no request while invalid.
    q<HTMLInputElement>('[data-testid="project-field-name"]')!.value = 'Dup';
    testid('project-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    expect(calls.filter((c) => c.method === 'POST')).toHaveLength(0);

    schema.value = JSON.stringify({ version: 1, data: { text: { type: 'text' } }, fields: [{ name: 's', type: 'text' }] });
    schema.dispatchEvent(new Event('input'));
    expect(testid('schema-status')?.textContent).toMatch(/looks valid: 1 label field\./);
    testid('project-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() =>
      expect(testid('field-error-label_schema')?.textContent).toBe(
        'fields[0].choices: must be a non-empty list of unique strings',
      ),
    );
    expect(testid('field-error-name')?.textContent).toBe('A project with this name already exists.');
    expect(testid('form-error')?.textContent).toBe('Invalid input.');
    const post = calls.find((c) => c.method === 'POST')!;
    expect(post.headers['X-CSRFToken']).toBe('tok');
    expect(post.body).toEqual({
      name: 'Dup',
      description: '',
      instructions: '',
      overlap: 1,
      label_schema: { version: 1, data: { text: { type: 'text' } }, fields: [{ name: 's', type: 'text' }] },
    });
  });

  it('new project: navigates to the created project', async () => {
    mockFetch({
      'GET /api/v1/me': json(200, me([mAcme])),
      'POST /api/v1/t/acme/projects': json(201, project({ id: 'new-id', name: 'Created' })),
      'GET /api/v1/t/acme/projects/new-id': json(200, project({ id: 'new-id', name: 'Created' })),
    });
    start('/t/acme/projects/new');
    await vi.waitFor(() => expect(testid('project-form')).not.toBeNull());
    q<HTMLInputElement>('[data-testid="project-field-name"]')!.value = 'Created';
    testid('project-form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(testid('project-name')?.textContent).toBe('Created'));
    expect(location.pathname).toBe('/t/acme/projects/new-id');
  });

  it('logs out and returns to the login screen', async () => {
    let loggedIn = true;
    mockFetch({
      'GET /api/v1/me': () =>
        loggedIn ? json(200, me([mAcme, mGlobex])) : json(403, { error: { code: 'x', message: 'x' } }),
      'POST /api/v1/auth/logout': () => {
        loggedIn = false;
        return new Response(null, { status: 204 });
      },
    });
    start('/');
    await vi.waitFor(() => expect(testid('logout-button')).not.toBeNull());
    testid('logout-button')!.click();
    await vi.waitFor(() => expect(testid('login-form')).not.toBeNull());
    expect(location.pathname).toBe('/');
  });
});
