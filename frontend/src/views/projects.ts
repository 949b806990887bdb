import * as api from '../api';
import { h, replaceChildren } from '../dom';
import { paths } from '../router';
import { loading } from './common';
import { canCreateProjects, type ViewContext } from './context';

function permissionList(perms: readonly string[]): HTMLElement {
  if (!perms.length) return h('span', { class: 'muted' }, 'none');
  return h(
    'ul',
    { class: 'tags', 'aria-label': 'Your permissions' },
    perms.map((p) => h('li', { class: 'tag' }, p)),
  );
}

/** One row of the project table. Exported for tests: all data goes in as text. */
export function renderProjectRow(slug: string, project: api.Project): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-testid': 'project-row', 'data-project-id': project.id },
    h(
      'th',
      { scope: 'row' },
      h('a', { href: paths.project(slug, project.id), 'data-testid': 'project-link' }, project.name || '(untitled)'),
    ),
    h('td', { class: 'description' }, project.description || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'num' }, String(project.overlap)),
    h('td', null, permissionList(project.permissions ?? [])),
  );
}

/** /t/{slug}/projects */
export function renderProjects(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('Projects');
  const status = h('div', { class: 'list-status', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { class: 'project-table', 'data-testid': 'project-list', hidden: true },
    h('caption', { class: 'visually-hidden' }, 'Projects in this tenant'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Description'),
        h('th', { scope: 'col', class: 'num' }, 'Overlap'),
        h('th', { scope: 'col' }, 'Your permissions'),
      ),
    ),
    tbody,
  );
  const loadMore = h('button', { type: 'button', class: 'button', 'data-testid': 'load-more', hidden: true }, 'Load more');

  const header = h(
    'div',
    { class: 'page-header' },
    h('h1', { tabindex: -1 }, 'Projects'),
    canCreateProjects(ctx.membership)
      ? h('a', { class: 'button primary', href: paths.projectNew(slug), 'data-testid': 'new-project-link' }, 'New project')
      : null,
  );

  let next: string | null = null;
  let count = 0;

  const load = async (cursor: string | null): Promise<void> => {
    loadMore.disabled = true;
    replaceChildren(status, loading(cursor ? 'Loading more…' : 'Loading projects…'));
    try {
      const page = await api.listProjects(slug, cursor, ctx.signal);
      for (const project of page.results) tbody.appendChild(renderProjectRow(slug, project));
      count += page.results.length;
      next = page.next;
      table.hidden = count === 0;
      replaceChildren(
        status,
        count === 0 ? h('p', { class: 'empty', 'data-testid': 'no-projects' }, 'No projects yet.') : null,
      );
      loadMore.hidden = next === null;
    } catch (err) {
      replaceChildren(status);
      ctx.fail(err, status, () => void load(cursor));
    } finally {
      loadMore.disabled = false;
    }
  };

  loadMore.addEventListener('click', () => {
    if (next) void load(next);
  });

  void load(null);
  return h('section', { class: 'projects' }, header, table, status, h('div', { class: 'actions' }, loadMore));
}
