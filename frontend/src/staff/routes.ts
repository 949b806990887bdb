/**
 * Routes of the reviewer, manager and auditor screens (kept apart from router.ts so that the
 * shared router only needs one call into here):
 *
 *   /t/{slug}/projects/{id}/review        next annotation to review
 *   /t/{slug}/projects/{id}/imports       imports with live progress
 *   /t/{slug}/projects/{id}/dashboard     charts: progress, throughput, agreement, gold
 *   /t/{slug}/projects/{id}/permissions   per-project grants
 *   /t/{slug}/members                     members and roles
 *   /t/{slug}/competitors                 competitor exclusions (owners)
 *   /t/{slug}/audit                       the access log (auditors, owners)
 *   /t/{slug}/audit/exports               audit bundle exports
 */

export type ProjectScreen = 'review' | 'imports' | 'dashboard' | 'permissions';
const PROJECT_SCREENS: readonly ProjectScreen[] = ['review', 'imports', 'dashboard', 'permissions'];

export type StaffRoute =
  | { name: 'project-screen'; screen: ProjectScreen; slug: string; id: string }
  | { name: 'members'; slug: string }
  | { name: 'competitors'; slug: string }
  | { name: 'audit-log'; slug: string }
  | { name: 'audit-exports'; slug: string };

/**
 * `rest` is the path after /t/{slug}/ split on "/" (already checked non-empty), `decode` the
 * router's segment decoder. Returns null when the path is not one of these screens.
 */
export function matchStaffRoute(
  slug: string,
  rest: readonly string[],
  decode: (segment: string) => string | null,
): StaffRoute | null {
  const [a, b, c] = rest;
  if (rest.length === 1) {
    if (a === 'members') return { name: 'members', slug };
    if (a === 'competitors') return { name: 'competitors', slug };
    if (a === 'audit') return { name: 'audit-log', slug };
  }
  if (rest.length === 2 && a === 'audit' && b === 'exports') return { name: 'audit-exports', slug };
  if (rest.length === 3 && a === 'projects' && b && b !== 'new') {
    const screen = PROJECT_SCREENS.find((s) => s === c);
    const id = decode(b);
    if (screen && id !== null) return { name: 'project-screen', screen, slug, id };
  }
  return null;
}

const t = (slug: string): string => `/t/${encodeURIComponent(slug)}`;

export const staffPaths = {
  projectScreen: (slug: string, id: string, screen: ProjectScreen): string =>
    `${t(slug)}/projects/${encodeURIComponent(id)}/${screen}`,
  members: (slug: string): string => `${t(slug)}/members`,
  competitors: (slug: string): string => `${t(slug)}/competitors`,
  auditLog: (slug: string): string => `${t(slug)}/audit`,
  auditExports: (slug: string): string => `${t(slug)}/audit/exports`,
};
