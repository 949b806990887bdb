/**
 * /t/{slug}/competitors — the tenants this one competes with (owners only): members of
 * those tenants are never given this tenant's items. The named tenant never sees the list.
 */

import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import * as staff from '../staff/client';
import { fieldMessages, isOwner, liveStatus, table } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

export function renderCompetitors(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('Competitors');
  const status = liveStatus('competitors-status');
  const root = h(
    'section',
    { class: 'competitors-screen', 'data-testid': 'competitors-screen' },
    h('h1', { tabindex: -1 }, 'Competitor exclusions'),
    h('p', { class: 'hint' }, 'People who are members of a tenant named here are never assigned this tenant’s items. The named tenant is not told.'),
    status,
  );
  if (!isOwner(ctx.membership)) {
    root.appendChild(h('p', { 'data-testid': 'competitors-forbidden' }, 'Only owners of this tenant can see and change its competitor list.'));
    return root;
  }
  const list = h('div', null, loading());
  const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'competitor-form-error' });
  const slugInput = h('input', { type: 'text', id: 'competitor-slug', required: true, maxlength: 50, autocomplete: 'off', 'data-testid': 'competitor-slug' });
  const note = h('input', { type: 'text', id: 'competitor-note', maxlength: 200, 'data-testid': 'competitor-note' });
  const form = h(
    'form',
    { class: 'card inline-form', 'data-testid': 'competitor-form' },
    h('h2', null, 'Add a competitor'),
    error,
    h('div', { class: 'field' }, h('label', { for: 'competitor-slug' }, 'Tenant slug'), slugInput),
    h('div', { class: 'field' }, h('label', { for: 'competitor-note' }, 'Note (optional)'), note),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary', 'data-testid': 'competitor-submit' }, 'Add')),
  );
  root.append(form, h('h2', null, 'Excluded tenants'), list);

  const load = async (): Promise<void> => {
    try {
      const rows = await staff.listCompetitors(slug, ctx.signal);
      replaceChildren(
        list,
        rows.length
          ? table(
              'competitor-list',
              'Competitor tenants',
              ['Tenant', 'Note', 'Added', ''],
              rows.map((c) => {
                const remove = h('button', { type: 'button', class: 'button small danger', 'data-testid': 'competitor-remove' }, 'Remove');
                remove.addEventListener('click', () => {
                  void (async () => {
                    try {
                      await staff.removeCompetitor(slug, c.id);
                      replaceChildren(status, `${c.competitor} removed.`);
                      void load();
                    } catch (e) {
                      ctx.fail(e, list);
                    }
                  })();
                });
                return h(
                  'tr',
                  { 'data-testid': 'competitor-row', 'data-competitor': c.competitor },
                  h('th', { scope: 'row' }, h('code', null, c.competitor)),
                  h('td', null, c.note || '—'),
                  h('td', null, formatDate(c.created_at)),
                  h('td', null, remove),
                );
              }),
            )
          : h('p', { class: 'muted', 'data-testid': 'no-competitors' }, 'No competitors named.'),
      );
    } catch (e) {
      replaceChildren(list);
      ctx.fail(e, list, () => void load());
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    replaceChildren(error);
    error.classList.remove('visible');
    const value = slugInput.value.trim();
    if (!value) {
      replaceChildren(error, 'Enter the tenant’s slug.');
      error.classList.add('visible');
      slugInput.focus();
      return;
    }
    void (async () => {
      try {
        const c = await staff.addCompetitor(slug, value, note.value.trim());
        replaceChildren(status, `${c.competitor} added: its members will not get this tenant’s items.`);
        form.reset();
        void load();
      } catch (e) {
        if (e instanceof api.ApiError && e.status !== 404) {
          replaceChildren(error, h('ul', null, [e.message, ...fieldMessages(e.fields)].map((m) => h('li', null, m))));
          error.classList.add('visible');
        } else ctx.fail(e, error);
      }
    })();
  });
  void load();
  return root;
}
