/** Small building blocks shared by the reviewer, manager and auditor screens. */

import './staff.css';

import type { Membership, Project } from '../api';
import { h } from '../dom';
import { paths } from '../router';
import { staffPaths, type ProjectScreen } from './routes';

export const MANAGERS: ReadonlySet<string> = new Set(['owner', 'manager']);
export const AUDIT_READERS: ReadonlySet<string> = new Set(['owner', 'auditor']);

export function isManager(m: Membership | null): boolean {
  return m !== null && MANAGERS.has(m.role);
}

export function isOwner(m: Membership | null): boolean {
  return m !== null && m.role === 'owner';
}

export function canReadAudit(m: Membership | null): boolean {
  return m !== null && AUDIT_READERS.has(m.role);
}

const SCREEN_LABELS: Record<ProjectScreen | 'details', string> = {
  details: 'Details',
  review: 'Review',
  imports: 'Imports',
  dashboard: 'Dashboard',
  permissions: 'Permissions',
};

/** Which project screens a caller with these project permissions may open. */
export function projectScreens(permissions: readonly string[]): ProjectScreen[] {
  const has = (p: string): boolean => permissions.includes(p);
  const out: ProjectScreen[] = [];
  if (has('review')) out.push('review');
  if (has('manage')) out.push('imports');
  if (has('manage') || has('review') || has('export')) out.push('dashboard');
  if (has('manage')) out.push('permissions');
  return out;
}

/** Tabs under a project's name: details plus the staff screens the caller may open. */
export function projectTabs(slug: string, project: Pick<Project, 'id' | 'permissions'>, current: ProjectScreen | 'details'): HTMLElement {
  const screens: (ProjectScreen | 'details')[] = ['details', ...projectScreens(project.permissions ?? [])];
  return h(
    'nav',
    { class: 'tabs', 'aria-label': 'Project screens', 'data-testid': 'project-tabs' },
    screens.map((s) =>
      h(
        'a',
        {
          href: s === 'details' ? paths.project(slug, project.id) : staffPaths.projectScreen(slug, project.id, s),
          class: s === current ? 'tab current' : 'tab',
          'aria-current': s === current ? 'page' : null,
          'data-testid': `tab-${s}`,
        },
        SCREEN_LABELS[s],
      ),
    ),
  );
}

export function breadcrumb(slug: string, project?: Pick<Project, 'id' | 'name'>): HTMLElement {
  return h(
    'p',
    { class: 'breadcrumb' },
    h('a', { href: paths.projects(slug) }, '← All projects'),
    project ? [' / ', h('a', { href: paths.project(slug, project.id) }, project.name || '(untitled)')] : null,
  );
}

/** A simple table: header cells and rows of cells (strings become text). */
export function table(
  testid: string,
  caption: string,
  head: string[],
  rows: HTMLTableRowElement[],
): HTMLTableElement {
  return h(
    'table',
    { class: 'data-table', 'data-testid': testid },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', null, h('tr', null, head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows),
  );
}

export function percent(x: number | null | undefined, digits = 0): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(digits)}%`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** A status line that screen readers announce. */
export function liveStatus(testid: string): HTMLElement {
  return h('div', { class: 'status-line', role: 'status', 'aria-live': 'polite', 'data-testid': testid });
}

/** True when a key event comes from a text-entry control (shortcuts must not fire there). */
export function typingTarget(ev: KeyboardEvent): boolean {
  const el = ev.target;
  if (!(el instanceof HTMLElement)) return false;
  if (el.isContentEditable) return true;
  if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  return el instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit'].includes(el.type);
}

/** Show an ApiError's field messages as "field: message" lines. */
export function fieldMessages(fields: Record<string, string[]>): string[] {
  return Object.entries(fields).flatMap(([f, msgs]) => msgs.map((m) => (f === 'non_field_errors' ? m : `${f}: ${m}`)));
}
