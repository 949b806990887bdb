/**
 * /t/{slug}/members — the tenant's members and roles (owners and managers), and
 * /t/{slug}/projects/{id}/permissions — per-project grants (the project's `manage`).
 */

import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import * as staff from '../staff/client';
import { breadcrumb, fieldMessages, isManager, isOwner, liveStatus, projectTabs, table } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

export const ROLES = ['owner', 'manager', 'reviewer', 'annotator', 'auditor'] as const;
export const PROJECT_PERMISSIONS = ['view', 'annotate', 'review', 'manage', 'export'] as const;

function formErrorBox(testid: string): { el: HTMLElement; show(err: unknown): void; clear(): void } {
  const el = h('div', { class: 'form-error', role: 'alert', 'data-testid': testid });
  return {
    el,
    show(err) {
      const msgs = err instanceof api.ApiError ? [err.message, ...fieldMessages(err.fields)] : ['Something went wrong.'];
      replaceChildren(el, h('ul', null, msgs.map((m) => h('li', null, m))));
      el.classList.add('visible');
    },
    clear() {
      replaceChildren(el);
      el.classList.remove('visible');
    },
  };
}

/** Roles this member may hand out: only owners make owners. */
export function assignableRoles(actor: api.Membership | null): string[] {
  return ROLES.filter((r) => r !== 'owner' || isOwner(actor));
}

function roleSelect(id: string, roles: readonly string[], value: string, testid: string): HTMLSelectElement {
  const select = h('select', { id, 'data-testid': testid });
  for (const r of roles) select.appendChild(h('option', { value: r, selected: r === value }, r));
  return select;
}

export function renderMembers(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('Members');
  const status = liveStatus('members-status');
  const list = h('div', null, loading());
  const root = h('section', { class: 'members-screen', 'data-testid': 'members-screen' }, h('h1', { tabindex: -1 }, 'Members'), status);
  if (!isManager(ctx.membership)) {
    root.appendChild(h('p', { 'data-testid': 'members-forbidden' }, 'Only owners and managers of this tenant can see and change its members.'));
    return root;
  }
  const roles = assignableRoles(ctx.membership);
  const err = formErrorBox('member-form-error');
  const username = h('input', { type: 'text', id: 'member-username', required: true, maxlength: 150, autocomplete: 'off', 'data-testid': 'member-username' });
  const role = roleSelect('member-role', roles, 'annotator', 'member-role');
  const form = h(
    'form',
    { class: 'card inline-form', 'data-testid': 'member-form' },
    h('h2', null, 'Add a member'),
    err.el,
    h('div', { class: 'field' }, h('label', { for: 'member-username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'member-role' }, 'Role'), role),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary', 'data-testid': 'member-submit' }, 'Add member')),
  );
  root.append(form, h('h2', null, 'Members'), list);

  const row = (m: staff.Member): HTMLTableRowElement => {
    const editable = m.is_active && (m.role !== 'owner' || isOwner(ctx.membership)) && m.id !== ctx.membership?.id;
    const select = roleSelect(`role-${m.id}`, m.role === 'owner' && !isOwner(ctx.membership) ? ['owner'] : roles, m.role, 'member-role-select');
    select.disabled = !editable;
    select.setAttribute('aria-label', `Role of ${m.user.username}`);
    select.addEventListener('change', () => {
      void (async () => {
        try {
          await staff.updateMember(slug, m.id, select.value as staff.MemberRole);
          replaceChildren(status, `${m.user.username} is now ${select.value}.`);
        } catch (e) {
          select.value = m.role;
          replaceChildren(status, e instanceof api.ApiError ? e.message : 'Could not change the role.');
        }
      })();
    });
    const end = h('button', { type: 'button', class: 'button small danger', 'data-testid': 'member-end', disabled: !editable }, 'End membership');
    end.addEventListener('click', () => {
      if (!confirm(`End ${m.user.username}'s membership? Their tokens are revoked.`)) return;
      void (async () => {
        try {
          await staff.endMember(slug, m.id);
          replaceChildren(status, `${m.user.username}'s membership ended.`);
          void load();
        } catch (e) {
          replaceChildren(status, e instanceof api.ApiError ? e.message : 'Could not end the membership.');
        }
      })();
    });
    return h(
      'tr',
      { 'data-testid': 'member-row', 'data-membership-id': m.id, class: m.is_active ? '' : 'inactive' },
      h('th', { scope: 'row' }, m.user.username),
      h('td', null, select),
      h('td', null, m.is_active ? 'active' : `ended ${m.ended_at ? formatDate(m.ended_at) : ''}`),
      h('td', null, formatDate(m.created_at)),
      h('td', null, end),
    );
  };

  const load = async (): Promise<void> => {
    try {
      const rows: staff.Member[] = [];
      let page = await staff.listMembers(slug, null, ctx.signal);
      rows.push(...page.results);
      while (page.next && rows.length < 1000) {
        page = await staff.listMembers(slug, page.next, ctx.signal);
        rows.push(...page.results);
      }
      replaceChildren(list, table('member-list', 'Members of this tenant', ['User', 'Role', 'State', 'Since', ''], rows.map(row)));
    } catch (e) {
      replaceChildren(list);
      ctx.fail(e, list, () => void load());
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    err.clear();
    if (!username.value.trim()) {
      err.show(new api.ApiError(400, 'bad_request', 'Enter a username.'));
      username.focus();
      return;
    }
    void (async () => {
      try {
        const m = await staff.addMember(slug, { username: username.value.trim(), role: role.value as staff.MemberRole });
        replaceChildren(status, `${m.user.username} added as ${m.role}.`);
        form.reset();
        role.value = 'annotator';
        void load();
      } catch (e) {
        err.show(e);
      }
    })();
  });
  void load();
  return root;
}

export function renderProjectPermissions(ctx: ViewContext, slug: string, projectId: string): HTMLElement {
  ctx.setTitle('Permissions');
  const top = h('div', null, h('h1', { tabindex: -1 }, 'Permissions'));
  const status = liveStatus('grants-status');
  const body = h('div', null, loading());
  const root = h('section', { class: 'permissions-screen', 'data-testid': 'permissions-screen' }, top, status, body);

  const load = async (): Promise<void> => {
    try {
      const project = await api.getProject(slug, projectId, ctx.signal);
      ctx.setTitle(`Permissions · ${project.name}`);
      replaceChildren(top, breadcrumb(slug, project), h('h1', { tabindex: -1 }, `Permissions: ${project.name}`), projectTabs(slug, project, 'permissions'));
      const [grants, members] = await Promise.all([
        staff.listGrants(slug, projectId, ctx.signal),
        isManager(ctx.membership) ? staff.listMembers(slug, null, ctx.signal).then((p) => p.results) : Promise.resolve([]),
      ]);
      const err = formErrorBox('grant-form-error');
      const who = h('select', { id: 'grant-member', 'data-testid': 'grant-member' });
      for (const m of members.filter((x) => x.is_active)) who.appendChild(h('option', { value: m.id }, `${m.user.username} (${m.role})`));
      const perm = h('select', { id: 'grant-permission', 'data-testid': 'grant-permission' });
      for (const p of PROJECT_PERMISSIONS) perm.appendChild(h('option', { value: p }, p));
      const form = h(
        'form',
        { class: 'card inline-form', 'data-testid': 'grant-form' },
        h('h2', null, 'Grant a permission on this project'),
        h('p', { class: 'hint' }, 'Roles bring their defaults (a manager manages every project); grants add to them for this project only.'),
        err.el,
        h('div', { class: 'field' }, h('label', { for: 'grant-member' }, 'Member'), who),
        h('div', { class: 'field' }, h('label', { for: 'grant-permission' }, 'Permission'), perm),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button primary', 'data-testid': 'grant-submit' }, 'Grant')),
      );
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        err.clear();
        void (async () => {
          try {
            const g = await staff.addGrant(slug, projectId, who.value, perm.value as staff.ProjectPermission);
            replaceChildren(status, `${g.user.username} may now ${g.permission} this project.`);
            void load();
          } catch (e) {
            err.show(e);
          }
        })();
      });
      const rows = grants.map((g) => {
        const revoke = h('button', { type: 'button', class: 'button small danger', 'data-testid': 'grant-revoke' }, 'Revoke');
        revoke.addEventListener('click', () => {
          void (async () => {
            try {
              await staff.revokeGrant(slug, projectId, g.membership_id, g.permission);
              replaceChildren(status, `Revoked ${g.permission} from ${g.user.username}.`);
              void load();
            } catch (e) {
              replaceChildren(status, e instanceof api.ApiError ? [e.message, ...fieldMessages(e.fields)].join(' ') : 'Could not revoke.');
            }
          })();
        });
        return h(
          'tr',
          { 'data-testid': 'grant-row' },
          h('th', { scope: 'row' }, g.user.username),
          h('td', null, g.role),
          h('td', null, h('span', { class: 'tag' }, g.permission)),
          h('td', null, revoke),
        );
      });
      replaceChildren(
        body,
        form,
        h('h2', null, 'Grants'),
        rows.length ? table('grant-list', 'Grants on this project', ['Member', 'Role', 'Permission', ''], rows) : h('p', { class: 'muted', 'data-testid': 'no-grants' }, 'No grants beyond the role defaults.'),
      );
    } catch (e) {
      replaceChildren(body);
      ctx.fail(e, body, () => void load());
    }
  };
  void load();
  return root;
}
