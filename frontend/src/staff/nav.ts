/** Header links to the tenant-wide staff screens, by role. */

import type { Membership } from '../api';
import { h } from '../dom';
import { staffPaths } from './routes';
import { canReadAudit, isManager, isOwner } from './ui';

export function staffNavLinks(m: Membership): HTMLElement[] {
  const slug = m.tenant.slug;
  const links: HTMLElement[] = [];
  if (isManager(m)) links.push(h('a', { href: staffPaths.members(slug), 'data-testid': 'nav-members' }, 'Members'));
  if (isOwner(m)) links.push(h('a', { href: staffPaths.competitors(slug), 'data-testid': 'nav-competitors' }, 'Competitors'));
  if (canReadAudit(m)) links.push(h('a', { href: staffPaths.auditLog(slug), 'data-testid': 'nav-audit' }, 'Access log'));
  return links;
}
