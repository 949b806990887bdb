import type { Me } from '../api';
import { h } from '../dom';
import { paths } from '../router';

/** Shown at / when the user has several memberships (or none). */
export function renderChooser(me: Me): HTMLElement {
  if (me.memberships.length === 0) {
    return h(
      'section',
      { class: 'chooser', 'data-testid': 'no-tenants' },
      h('h1', { tabindex: -1 }, 'No tenants'),
      h('p', null, 'Your account is not a member of any tenant yet. Ask a tenant owner to invite you.'),
    );
  }
  return h(
    'section',
    { class: 'chooser' },
    h('h1', { tabindex: -1 }, 'Choose a tenant'),
    h(
      'ul',
      { class: 'tenant-list', 'data-testid': 'tenant-chooser' },
      me.memberships.map((m) =>
        h(
          'li',
          { 'data-testid': 'tenant-choice', 'data-tenant-slug': m.tenant.slug },
          h('a', { href: paths.projects(m.tenant.slug) }, h('span', { class: 'tenant-name' }, m.tenant.name)),
          ' ',
          h('span', { class: 'tenant-slug' }, m.tenant.slug),
          ' ',
          h('span', { class: 'role-tag' }, m.role),
        ),
      ),
    ),
  );
}
