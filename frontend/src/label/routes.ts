/**
 * Routes of the annotator's screens (kept apart from router.ts, which calls in once):
 *
 *   /t/{slug}/work                     my projects with progress
 *   /t/{slug}/projects/{id}/label      labeling, item after item
 */

export type LabelRoute = { name: 'work'; slug: string } | { name: 'label'; slug: string; id: string };

export function matchLabelRoute(
  slug: string,
  rest: readonly string[],
  decode: (segment: string) => string | null,
): LabelRoute | null {
  if (rest.length === 1 && rest[0] === 'work') return { name: 'work', slug };
  if (rest.length === 3 && rest[0] === 'projects' && rest[2] === 'label' && rest[1] && rest[1] !== 'new') {
    const id = decode(rest[1]);
    if (id !== null) return { name: 'label', slug, id };
  }
  return null;
}

const t = (slug: string): string => `/t/${encodeURIComponent(slug)}`;

export const labelPaths = {
  work: (slug: string): string => `${t(slug)}/work`,
  label: (slug: string, id: string): string => `${t(slug)}/projects/${encodeURIComponent(id)}/label`,
};
