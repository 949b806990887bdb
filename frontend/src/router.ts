/**
 * Path → screen mapping (pure) and history.pushState navigation.
 *
 * Routes:
 *   /                              home (login, tenant chooser, or redirect to the only tenant)
 *   /t/{slug}                      redirect to /t/{slug}/projects
 *   /t/{slug}/projects             project list
 *   /t/{slug}/projects/new         new project form
 *   /t/{slug}/projects/{id}        project details
 *   anything else                  not found
 */

import { matchStaffRoute, type StaffRoute } from './staff/routes';

export type Route =
  | { name: 'home' }
  | { name: 'tenant'; slug: string }
  | { name: 'projects'; slug: string }
  | { name: 'project-new'; slug: string }
  | { name: 'project'; slug: string; id: string }
  | LabelRoute
  | { name: 'not-found' }
  | StaffRoute;

import { matchLabelRoute, type LabelRoute } from './label/routes';

const SEGMENT_RE = /^[^/]+$/;

function decode(segment: string): string | null {
  let value: string;
  try {
    value = decodeURIComponent(segment);
  } catch {
    return null;
  }
  // Reject empty segments and decoded slashes / control characters.
  if (!value || !SEGMENT_RE.test(value) || /[\u0000-\u001f\u007f]/.test(value)) return null;
  return value;
}

export function matchRoute(pathname: string): Route {
  let path = pathname.split(/[?#]/, 1)[0] ?? '';
  if (path.length > 1) path = path.replace(/\/+$/, '');
  if (path === '' || path === '/') return { name: 'home' };

  const parts = path.split('/').slice(1);
  if (parts[0] !== 't' || parts.length < 2) return { name: 'not-found' };

  const slug = decode(parts[1] ?? '');
  if (slug === null) return { name: 'not-found' };
  if (parts.length === 2) return { name: 'tenant', slug };
  // The annotator's screens (see label/routes.ts).
  const labelRoute = matchLabelRoute(slug, parts.slice(2), decode);
  if (labelRoute) return labelRoute;
  // Reviewer, manager and auditor screens (see staff/routes.ts).
  const staff = matchStaffRoute(slug, parts.slice(2), decode);
  if (staff) return staff;
  if (parts[2] !== 'projects') return { name: 'not-found' };
  if (parts.length === 3) return { name: 'projects', slug };
  if (parts.length === 4) {
    if (parts[3] === 'new') return { name: 'project-new', slug };
    const id = decode(parts[3] ?? '');
    if (id === null) return { name: 'not-found' };
    return { name: 'project', slug, id };
  }
  return { name: 'not-found' };
}

export const paths = {
  home: (): string => '/',
  projects: (slug: string): string => `/t/${encodeURIComponent(slug)}/projects`,
  projectNew: (slug: string): string => `/t/${encodeURIComponent(slug)}/projects/new`,
  project: (slug: string, id: string): string =>
    `/t/${encodeURIComponent(slug)}/projects/${encodeURIComponent(id)}`,
};

type Listener = () => void;
const listeners = new Set<Listener>();

export function onNavigate(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify(): void {
  for (const l of [...listeners]) l();
}

/** Navigate without a page reload. Same-origin paths only. */
export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (!path.startsWith('/') || path.startsWith('//')) throw new Error(`refusing to navigate to ${path}`);
  const current = location.pathname + location.search;
  if (opts.replace) {
    history.replaceState(null, '', path);
  } else if (current !== path) {
    history.pushState(null, '', path);
  }
  notify();
}

let installed = false;

/**
 * Listen for back/forward and intercept clicks on same-origin links so they navigate
 * with pushState. Modified clicks (ctrl, cmd, shift, middle button) keep browser behaviour.
 */
export function installRouter(doc: Document = document): void {
  if (installed) return;
  installed = true;
  window.addEventListener('popstate', notify);
  doc.addEventListener('click', (ev) => {
    if (ev.defaultPrevented || ev.button !== 0) return;
    if (ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const target = ev.target instanceof Element ? ev.target.closest('a') : null;
    if (!target || target.hasAttribute('download')) return;
    if (target.target && target.target !== '_self') return;
    const href = target.getAttribute('href');
    if (!href || !href.startsWith('/') || href.startsWith('//')) return;
    // Let the server handle its own non-SPA paths (API, admin, static files).
    if (matchRoute(href).name === 'not-found' && !href.startsWith('/t/')) return;
    ev.preventDefault();
    navigate(href);
  });
}
