/** The reviewer, manager and auditor screens, by route (called from app.ts). */

import type { ViewContext } from '../views/context';
import { renderAuditExports, renderAuditLog } from '../views/audit';
import { renderCompetitors } from '../views/competitors';
import { renderDashboard } from '../views/dashboard';
import { renderImports } from '../views/imports';
import { renderMembers, renderProjectPermissions } from '../views/members';
import { renderReview } from '../views/review';
import type { StaffRoute } from './routes';

export function renderStaffRoute(route: StaffRoute, ctx: ViewContext): HTMLElement {
  switch (route.name) {
    case 'project-screen':
      switch (route.screen) {
        case 'review':
          return renderReview(ctx, route.slug, route.id);
        case 'imports':
          return renderImports(ctx, route.slug, route.id);
        case 'dashboard':
          return renderDashboard(ctx, route.slug, route.id);
        case 'permissions':
          return renderProjectPermissions(ctx, route.slug, route.id);
      }
      break;
    case 'members':
      return renderMembers(ctx, route.slug);
    case 'competitors':
      return renderCompetitors(ctx, route.slug);
    case 'audit-log':
      return renderAuditLog(ctx, route.slug);
    case 'audit-exports':
      return renderAuditExports(ctx, route.slug);
  }
  throw new Error('unknown staff route');
}
