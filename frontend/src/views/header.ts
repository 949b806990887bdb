import type { Me, Membership } from '../api';
import { h } from '../dom';
import { labelPaths } from '../label/routes';
import { paths } from '../router';
import { staffNavLinks } from '../staff/nav';

export interface HeaderHandlers {
  navigate(path: string): void;
  logout(): void;
}

function membershipLabel(m: Membership): string {
  return `${m.tenant.name} (${m.tenant.slug}) — ${m.role}`;
}

/**
 * App header: current tenant (name + slug, always visible), username, tenant switcher
 * (only the user's own memberships) and logout.
 */
export function renderHeader(me: Me, current: Membership | null, handlers: HeaderHandlers): HTMLElement {
  const badge = current
    ? h(
        'div',
        { class: 'tenant-badge', 'data-testid': 'tenant-badge', 'data-tenant-slug': current.tenant.slug },
        h('span', { class: 'tenant-label' }, 'Tenant'),
        h('span', { class: 'tenant-name', 'data-testid': 'tenant-name' }, current.tenant.name),
        h('span', { class: 'tenant-slug', 'data-testid': 'tenant-slug' }, current.tenant.slug),
        h('span', { class: 'role-tag', 'data-testid': 'tenant-role' }, current.role),
      )
    : h(
        'div',
        { class: 'tenant-badge empty', 'data-testid': 'tenant-badge', 'data-tenant-slug': '' },
        h('span', { class: 'tenant-label' }, 'Tenant'),
        h('span', { class: 'tenant-name' }, 'No tenant selected'),
      );

  const select = h('select', { id: 'tenant-switcher', name: 'tenant', 'data-testid': 'tenant-switcher' });
  if (!current) {
    select.appendChild(h('option', { value: '', disabled: true, selected: true }, 'Choose a tenant…'));
  }
  for (const m of me.memberships) {
    const opt = h('option', { value: m.tenant.slug }, membershipLabel(m));
    if (current && m.tenant.slug === current.tenant.slug) opt.selected = true;
    select.appendChild(opt);
  }
  const switcher = h(
    'form',
    { class: 'tenant-switcher', 'data-testid': 'tenant-switcher-form', 'aria-label': 'Switch tenant' },
    h('label', { for: 'tenant-switcher' }, 'Switch tenant'),
    select,
    h('button', { type: 'submit', class: 'button', 'data-testid': 'tenant-switch-button' }, 'Switch'),
  );
  switcher.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (select.value) handlers.navigate(paths.projects(select.value));
  });

  const logout = h('button', { type: 'button', class: 'button', 'data-testid': 'logout-button' }, 'Log out');
  logout.addEventListener('click', () => handlers.logout());

  const nav = current
    ? h(
        'nav',
        { class: 'app-nav', 'aria-label': 'Main' },
        h('a', { href: paths.projects(current.tenant.slug) }, 'Projects'),
        h('a', { href: labelPaths.work(current.tenant.slug), 'data-testid': 'nav-my-work' }, 'My work'),
        staffNavLinks(current),
      )
    : null;

  return h(
    'div',
    { class: 'header-inner' },
    h('a', { class: 'brand', href: '/' }, 'Annotate'),
    badge,
    nav,
    h('div', { class: 'header-spacer' }),
    me.memberships.length > 0 ? switcher : null,
    h(
      'div',
      { class: 'user' },
      h('span', { class: 'user-label' }, 'Signed in as '),
      h('strong', { 'data-testid': 'current-user' }, me.username),
    ),
    logout,
  );
}
