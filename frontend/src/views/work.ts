/** /t/{slug}/work — the annotator's projects, with progress, and "Start labeling". */

import { call, type Schemas } from '../api/client';
import { h, replaceChildren } from '../dom';
import { labelPaths } from '../label/routes';
import { paths } from '../router';
import { loading } from './common';
import type { ViewContext } from './context';

type Row = Schemas['MyWork'];

function percent(part: number, whole: number): number {
  return whole > 0 ? Math.round((100 * part) / whole) : 0;
}

export function renderWorkRow(slug: string, row: Row): HTMLElement {
  const pct = percent(row.items_completed, row.items_total);
  const bar = h('progress', { max: 100, value: pct, 'aria-label': `${pct}% of items complete` });
  return h(
    'li',
    { class: 'work-row card', 'data-testid': 'work-row', 'data-project-id': row.project_id },
    h('h2', null, h('a', { href: paths.project(slug, row.project_id) }, row.name || '(untitled)')),
    h(
      'div',
      { class: 'work-progress' },
      bar,
      h('span', { 'data-testid': 'work-progress' }, `${row.items_completed} of ${row.items_total} items complete (${pct}%)`),
    ),
    h(
      'p',
      { class: 'muted', 'data-testid': 'work-mine' },
      `You: ${row.submitted} submitted · ${row.skipped} skipped${row.active_leases ? ` · ${row.active_leases} in hand` : ''}`,
    ),
    h('a', { class: 'button primary', href: labelPaths.label(slug, row.project_id), 'data-testid': 'start-labeling' }, row.active_leases ? 'Continue labeling' : 'Start labeling'),
  );
}

export function renderWork(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('My work');
  const list = h('ul', { class: 'work-list', 'data-testid': 'work-list' });
  const root = h('section', { class: 'work-screen' }, h('h1', { tabindex: -1 }, 'My work'), loading());
  const load = async (): Promise<void> => {
    try {
      const { data } = await call('get', '/api/v1/t/{tenant}/my-work', { path: { tenant: slug }, signal: ctx.signal });
      replaceChildren(
        root,
        h('h1', { tabindex: -1 }, 'My work'),
        data.length
          ? list
          : h('p', { 'data-testid': 'no-work' }, 'No project to label in this tenant yet. A manager gives you access to a project.'),
      );
      replaceChildren(list, data.map((row) => renderWorkRow(slug, row)));
      root.querySelector<HTMLAnchorElement>('[data-testid="start-labeling"]')?.focus({ preventScroll: true });
    } catch (err) {
      replaceChildren(root, h('h1', { tabindex: -1 }, 'My work'));
      ctx.fail(err, root, () => void load());
    }
  };
  void load();
  return root;
}
