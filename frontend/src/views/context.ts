import type { Me, Membership } from '../api';

/** What every signed-in screen gets from the app shell. */
export interface ViewContext {
  /** Aborted when the user navigates away; pass to API calls. */
  signal: AbortSignal;
  me: Me;
  /** The membership for the tenant in the URL, if any. */
  membership: Membership | null;
  navigate(path: string, opts?: { replace?: boolean }): void;
  setTitle(title: string): void;
  /**
   * Central error handling for screens: ignores aborts, shows the Not found screen for 404,
   * sends the user back to login if the session expired, otherwise shows a message with a
   * retry button inside `container`.
   */
  fail(err: unknown, container: HTMLElement, retry?: () => void): void;
}

export const MANAGER_ROLES: ReadonlySet<string> = new Set(['owner', 'manager']);

export function canCreateProjects(membership: Membership | null): boolean {
  return membership !== null && MANAGER_ROLES.has(membership.role);
}
