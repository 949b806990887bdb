/**
 * App shell: holds the signed-in user, renders the header and the screen for the current
 * path, and re-renders on navigation (pushState, back/forward).
 */

import * as api from './api';
import { h, replaceChildren } from './dom';
import { installRouter, matchRoute, navigate, onNavigate, paths, type Route } from './router';
import { renderChooser } from './views/chooser';
import { errorBox, loading } from './views/common';
import type { ViewContext } from './views/context';
import { renderHeader } from './views/header';
import { renderLogin } from './views/login';
import { renderNotFound } from './views/not-found';
import { renderProjectPage } from './views/project-detail';
import { renderProjectNew } from './views/project-new';
import { renderProjects } from './views/projects';
import { renderLabel } from './views/label';
import { renderWork } from './views/work';
import { labelPaths } from './label/routes';
import { renderStaffRoute } from './staff/screens';

const APP_NAME = 'Annotate';

export class App {
  private me: api.Me | null = null;
  private controller: AbortController | null = null;
  private renders = 0;
  private hasRendered = false;
  private unsubscribe: (() => void) | null = null;
  readonly header: HTMLElement;
  readonly main: HTMLElement;

  constructor(readonly root: HTMLElement) {
    this.header = h('header', { class: 'app-header', 'data-testid': 'app-header' });
    this.main = h('main', { id: 'main', class: 'app-main', tabindex: -1 });
    replaceChildren(
      root,
      h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'),
      this.header,
      this.main,
    );
  }

  async start(): Promise<void> {
    installRouter();
    this.unsubscribe ??= onNavigate(() => void this.render());
    replaceChildren(this.main, loading());
    try {
      this.me = await api.getMe();
    } catch (err) {
      const message = err instanceof api.ApiError ? err.message : 'Could not start the app.';
      replaceChildren(this.main, errorBox(message, () => void this.start()));
      return;
    }
    await this.render();
  }

  /** Stop reacting to navigation (used by tests). */
  destroy(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.controller?.abort();
  }

  private setTitle(title: string): void {
    document.title = title ? `${title} · ${APP_NAME}` : APP_NAME;
  }

  private async logout(): Promise<void> {
    try {
      await api.logout();
    } catch (err) {
      // If the session is already gone the user is logged out anyway.
      if (!(err instanceof api.ApiError && err.isUnauthenticated)) {
        replaceChildren(this.main, errorBox(err instanceof api.ApiError ? err.message : 'Could not log out.'));
        return;
      }
    }
    this.me = null;
    navigate(paths.home(), { replace: false });
  }

  private showNotFound(): void {
    this.setTitle('Not found');
    replaceChildren(this.main, renderNotFound());
    this.main.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
  }

  private fail(err: unknown, container: HTMLElement, retry?: () => void): void {
    if (api.isAbortError(err)) return;
    if (err instanceof api.ApiError) {
      if (err.isNotFound) {
        this.showNotFound();
        return;
      }
      if (err.isUnauthenticated) {
        // Either the session expired (→ login) or this is a genuine permission error.
        void api.getMe().then(
          (me) => {
            if (!me) {
              this.me = null;
              void this.render();
            } else {
              container.appendChild(errorBox(err.message, retry));
            }
          },
          () => container.appendChild(errorBox(err.message, retry)),
        );
        return;
      }
      container.appendChild(errorBox(err.message, retry));
      return;
    }
    container.appendChild(errorBox('Something went wrong.', retry));
  }

  /** Render the screen for the current location. */
  async render(): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const renderNo = ++this.renders;
    const route = matchRoute(location.pathname);

    if (!this.me) {
      replaceChildren(this.header);
      this.header.hidden = true;
      this.setTitle('Log in');
      replaceChildren(
        this.main,
        renderLogin((me) => {
          this.me = me;
          void this.render();
        }),
      );
      this.focusHeading(renderNo);
      return;
    }

    let me = this.me;
    let membership: api.Membership | null = null;
    if ('slug' in route) {
      membership = findMembership(me, route.slug);
      if (!membership) {
        // Memberships may have changed since the page loaded: check once more.
        try {
          const fresh = await api.getMe(controller.signal);
          if (controller.signal.aborted) return;
          if (!fresh) {
            this.me = null;
            return void this.render();
          }
          this.me = me = fresh;
          membership = findMembership(fresh, route.slug);
        } catch (err) {
          if (api.isAbortError(err)) return;
        }
      }
    }
    if (controller.signal.aborted) return;

    this.header.hidden = false;
    replaceChildren(
      this.header,
      renderHeader(me, membership, {
        navigate: (p) => navigate(p),
        logout: () => void this.logout(),
      }),
    );

    if ('slug' in route && !membership) {
      // Unknown tenant and someone else's tenant look exactly the same.
      this.showNotFound();
      return;
    }

    const ctx: ViewContext = {
      signal: controller.signal,
      me,
      membership,
      navigate: (p, opts) => navigate(p, opts),
      setTitle: (t) => {
        if (!controller.signal.aborted) this.setTitle(t);
      },
      fail: (err, container, retry) => {
        if (!controller.signal.aborted) this.fail(err, container, retry);
      },
    };
    const view = this.viewFor(route, ctx);
    if (view === null) return; // redirected
    replaceChildren(this.main, view);
    this.focusHeading(renderNo);
  }

  private viewFor(route: Route, ctx: ViewContext): HTMLElement | null {
    switch (route.name) {
      case 'home': {
        const ms = ctx.me.memberships;
        if (ms.length === 1 && ms[0]) {
          const only = ms[0];
          navigate(only.role === 'annotator' ? labelPaths.work(only.tenant.slug) : paths.projects(only.tenant.slug), {
            replace: true,
          });
          return null;
        }
        this.setTitle('Choose a tenant');
        return renderChooser(ctx.me);
      }
      case 'tenant':
        // Annotators start from their work; everyone else from the project list.
        navigate(ctx.membership?.role === 'annotator' ? labelPaths.work(route.slug) : paths.projects(route.slug), {
          replace: true,
        });
        return null;
      case 'projects':
        return renderProjects(ctx, route.slug);
      case 'project-new':
        return renderProjectNew(ctx, route.slug);
      case 'project':
        return renderProjectPage(ctx, route.slug, route.id);
      case 'not-found':
        this.setTitle('Not found');
        return renderNotFound();
      case 'work':
        return renderWork(ctx, route.slug);
      case 'label':
        return renderLabel(ctx, route.slug, route.id);
      case 'project-screen':
      case 'members':
      case 'competitors':
      case 'audit-log':
      case 'audit-exports':
        return renderStaffRoute(route, ctx);
    }
  }

  /** Move focus to the new screen's heading (not on the first screen after page load). */
  private focusHeading(renderNo: number): void {
    if (renderNo !== this.renders) return;
    if (!this.hasRendered) {
      this.hasRendered = true;
      return;
    }
    const heading = this.main.querySelector<HTMLElement>('h1');
    (heading ?? this.main).focus();
  }
}

export function findMembership(me: api.Me, slug: string): api.Membership | null {
  return me.memberships.find((m) => m.tenant.slug === slug) ?? null;
}

export function startApp(root: HTMLElement): App {
  const app = new App(root);
  void app.start();
  return app;
}
