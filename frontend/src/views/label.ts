/**
 * /t/{slug}/projects/{id}/label — item after item, keyboard first, no page load between items.
 */

import * as api from '../api';
import { h, replaceChildren } from '../dom';
import { renderItem, type ItemView } from '../label/item';
import { WorkSession, type Lease } from '../label/session';
import '../label/label.css';
import { labelPaths as paths } from '../label/routes';
import { errorBox, loading } from './common';
import type { ViewContext } from './context';

export const SHORTCUTS: Array<[string, string]> = [
  ['1 … 9, 0', 'choose a choice, a label, a rating or a response (0: the 10th, or a tie)'],
  ['Enter', 'submit and go to the next item (Ctrl+Enter inside a text box)'],
  ['S', 'skip this item'],
  ['Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y)', 'undo / redo'],
  ['Tab / Shift+Tab', 'next / previous question'],
  ['← → / Shift+← →', 'spans: move the word cursor / extend the selection'],
  ['Delete', 'remove the span under the cursor, or the selected box'],
  ['N, arrows, Shift+arrows', 'boxes: new box, move it, resize it'],
  [', .', 'boxes: select the previous / next box'],
  ['+ − Z', 'boxes: zoom in, out, reset'],
  ['Esc', 'leave a text box; close this help'],
  ['?', 'show or hide this help'],
];

function fmtClock(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function isTextBox(el: Element | null): boolean {
  return el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && !['button', 'checkbox', 'radio'].includes(el.type));
}

export function imageFields(project: api.Project): string[] {
  return Object.entries(project.label_schema.data ?? {})
    .filter(([, s]) => s && s.type === 'image')
    .map(([k]) => k);
}

export function renderLabel(ctx: ViewContext, slug: string, id: string): HTMLElement {
  ctx.setTitle('Labeling');
  const heading = h('h1', { tabindex: -1, 'data-testid': 'label-title' }, 'Labeling');
  const clock = h('span', { class: 'lease-clock', 'data-testid': 'lease-countdown', role: 'timer', 'aria-live': 'off' });
  const saving = h('span', { class: 'save-state muted', 'data-testid': 'save-state', role: 'status' });
  const counter = h('span', { class: 'muted', 'data-testid': 'done-count' });
  const live = h('p', { class: 'visually-hidden', 'aria-live': 'polite', 'data-testid': 'announce' });
  const statusLine = h('p', { class: 'status-line', 'data-testid': 'status-line' });
  const notices = h('div', { class: 'notices', 'data-testid': 'notices' });
  const stage = h('div', { class: 'label-stage' }, loading());
  const skipBtn = h('button', { type: 'button', class: 'button', 'data-testid': 'skip-button' }, h('kbd', null, 'S'), ' Skip');
  const submitBtn = h('button', { type: 'button', class: 'button primary', 'data-testid': 'submit-button' }, 'Submit ', h('kbd', null, 'Enter'));
  const undoBtn = h('button', { type: 'button', class: 'button', 'data-testid': 'undo-button', title: 'Ctrl+Z' }, 'Undo');
  const redoBtn = h('button', { type: 'button', class: 'button', 'data-testid': 'redo-button', title: 'Ctrl+Shift+Z' }, 'Redo');
  const helpBtn = h('button', { type: 'button', class: 'button', 'data-testid': 'help-button', 'aria-haspopup': 'dialog' }, h('kbd', null, '?'), ' Shortcuts');
  const overlay = h(
    'div',
    { class: 'shortcut-overlay', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'shortcut-title', 'data-testid': 'shortcut-overlay', hidden: true, tabindex: -1 },
    h(
      'div',
      { class: 'shortcut-card card' },
      h('h2', { id: 'shortcut-title' }, 'Keyboard shortcuts'),
      h('dl', { class: 'shortcut-list' }, SHORTCUTS.map(([k, v]) => [h('dt', null, h('kbd', null, k)), h('dd', null, v)]).flat()),
      h('p', { class: 'muted' }, 'Press ? or Esc to close.'),
    ),
  );
  const back = h('a', { href: paths.work(slug) }, '← My work');
  const root = h(
    'section',
    { class: 'label-screen', 'data-testid': 'label-screen' },
    h('p', { class: 'breadcrumb' }, back),
    h('div', { class: 'label-top' }, heading, h('div', { class: 'label-meta' }, counter, saving, clock)),
    notices,
    stage,
    h('div', { class: 'label-actions' }, submitBtn, skipBtn, undoBtn, redoBtn, helpBtn),
    statusLine,
    live,
    overlay,
  );

  let project: api.Project | null = null;
  let session: WorkSession | null = null;
  let view: ItemView | null = null;
  let shownLease: Lease | null = null;
  let expired = false;
  let doneCount = 0;
  let timer: number | null = null;

  const announce = (message: string): void => {
    replaceChildren(live, message);
    replaceChildren(statusLine, message);
  };
  const notice = (message: string, kind: 'error' | 'info', action?: { label: string; run: () => void }): void => {
    const box = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `notice-${kind}` }, h('span', null, message));
    if (action) {
      const b = h('button', { type: 'button', class: 'button' }, action.label);
      b.addEventListener('click', () => {
        box.remove();
        action.run();
      });
      box.appendChild(b);
    }
    const close = h('button', { type: 'button', class: 'link-button', 'aria-label': 'Dismiss' }, '×');
    close.addEventListener('click', () => box.remove());
    box.appendChild(close);
    notices.appendChild(box);
  };

  const mediaUrl = (lease: Lease, field: string): string | null => {
    const media = Array.isArray(lease.item.media) ? (lease.item.media as Array<{ field?: unknown }>) : [];
    if (!media.some((m) => m && m.field === field)) return null;
    return `${api.API_PREFIX}/t/${encodeURIComponent(slug)}/projects/${encodeURIComponent(id)}/items/${encodeURIComponent(lease.item.id)}/media/${encodeURIComponent(field)}`;
  };

  const tick = (): void => {
    if (!session || !shownLease || expired) return;
    const left = session.remaining(shownLease);
    replaceChildren(clock, `Time left ${fmtClock(left)}`);
    clock.classList.toggle('warn', left < 60_000);
    if (left <= 0) showExpired('Time ran out on this item: it went back to the pool and your answer was not saved.');
  };

  const showExpired = (message: string): void => {
    if (!session || !shownLease) return;
    expired = true;
    session.drop(shownLease);
    view?.destroy();
    view = null;
    const next = h('button', { type: 'button', class: 'button primary', 'data-testid': 'expired-next' }, 'Next item ', h('kbd', null, 'Enter'));
    next.addEventListener('click', () => void advance());
    replaceChildren(
      stage,
      h('div', { class: 'expired card', role: 'alert', 'data-testid': 'lease-expired' }, h('h2', null, 'This item’s lease expired'), h('p', null, message), next),
    );
    replaceChildren(clock, 'Expired');
    clock.classList.add('warn');
    submitBtn.disabled = skipBtn.disabled = undoBtn.disabled = redoBtn.disabled = true;
    next.focus();
  };

  const updateUndo = (): void => {
    undoBtn.disabled = !view?.state.canUndo;
    redoBtn.disabled = !view?.state.canRedo;
  };

  /** Put the session's current lease on screen (or the end / empty state). */
  const show = (): void => {
    if (!session || !project) return;
    view?.destroy();
    view = null;
    expired = false;
    session.dropExpired();
    const lease = session.current;
    shownLease = lease;
    if (!lease) {
      const reason = session.endReason;
      submitBtn.disabled = skipBtn.disabled = true;
      replaceChildren(clock);
      replaceChildren(
        stage,
        h(
          'div',
          { class: 'all-done card', 'data-testid': 'no-more-items', 'data-reason': reason ?? 'loading' },
          reason === 'limit_reached'
            ? h('p', null, 'You reached the number of items this project allows per annotator. Thank you!')
            : reason === 'exhausted'
              ? h('p', null, 'No more items for you in this project right now. Thank you!')
              : loading('Getting the next item…'),
          reason ? h('p', null, h('a', { href: paths.work(slug) }, 'Back to my work')) : null,
        ),
      );
      if (!reason) void session.refill(ctx.signal).then(show, onLoadError);
      else stage.querySelector<HTMLElement>('a')?.focus({ preventScroll: true });
      return;
    }
    submitBtn.disabled = skipBtn.disabled = false;
    const data = typeof lease.item.data === 'object' && lease.item.data !== null ? (lease.item.data as Record<string, unknown>) : {};
    view = renderItem({ schema: project.label_schema, data, mediaUrl: (f) => mediaUrl(lease, f), announce });
    view.state.onChange(updateUndo);
    updateUndo();
    replaceChildren(
      stage,
      h(
        'div',
        { class: 'label-item', 'data-testid': 'label-item', 'data-lease-id': lease.id, 'data-item-id': lease.item.id },
        h('p', { class: 'muted item-ref' }, `Item ${lease.item.external_id || lease.item.id.slice(0, 8)}`),
        view.el,
      ),
    );
    tick();
    view.focusFirst();
    root.dataset.upcoming = session.upcoming ? '1' : '0';
    // Only the latest marks are kept: a day of labeling must not grow the timeline.
    performance.clearMarks('label:ready');
    performance.mark('label:ready');
  };

  const advance = async (): Promise<void> => {
    if (!session) return;
    show();
  };

  const submit = (): void => {
    if (!session || !view || !shownLease || expired) return;
    const problem = view.problem();
    if (problem) {
      announce(problem.message);
      problem.widget.focus();
      return;
    }
    performance.clearMarks('label:submit');
    performance.mark('label:submit');
    const lease = shownLease;
    const result = view.result();
    void session.submit(lease, result);
    doneCount++;
    replaceChildren(counter, `${doneCount} done this session`);
    show();
  };

  const skip = (): void => {
    if (!session || !shownLease || expired) return;
    const lease = shownLease;
    void session.skip(lease);
    announce('Skipped.');
    show();
  };

  let focusBeforeHelp: HTMLElement | null = null;
  const toggleHelp = (open?: boolean): void => {
    const willOpen = open ?? overlay.hidden;
    overlay.hidden = !willOpen;
    if (willOpen) {
      focusBeforeHelp = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      overlay.focus();
    } else if (focusBeforeHelp && root.contains(focusBeforeHelp)) {
      focusBeforeHelp.focus();
    } else {
      view?.focusFirst();
    }
  };

  submitBtn.addEventListener('click', submit);
  skipBtn.addEventListener('click', skip);
  undoBtn.addEventListener('click', () => view?.state.undo());
  redoBtn.addEventListener('click', () => view?.state.redo());
  helpBtn.addEventListener('click', () => toggleHelp());

  const onKey = (ev: KeyboardEvent): void => {
    if (!root.isConnected) return;
    if (ev.defaultPrevented || ev.isComposing) return;
    const active = document.activeElement;
    // Keys meant for the header (tenant switcher, links) stay there.
    if (active && active !== document.body && !root.contains(active)) return;
    const mod = ev.ctrlKey || ev.metaKey;
    if (!overlay.hidden) {
      if (ev.key === 'Escape' || ev.key === '?') {
        ev.preventDefault();
        toggleHelp(false);
      }
      return;
    }
    if (expired) {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        void advance();
      }
      return;
    }
    if (isTextBox(active)) {
      if (ev.key === 'Enter' && mod) {
        ev.preventDefault();
        submit();
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        (active?.closest<HTMLElement>('.label-field') ?? root).focus();
      }
      return; // typing, and the box's own undo
    }
    if (mod && (ev.key === 'z' || ev.key === 'Z')) {
      ev.preventDefault();
      if (ev.shiftKey) view?.state.redo();
      else view?.state.undo();
      return;
    }
    if (mod && (ev.key === 'y' || ev.key === 'Y')) {
      ev.preventDefault();
      view?.state.redo();
      return;
    }
    if (ev.key === '?') {
      ev.preventDefault();
      toggleHelp(true);
      return;
    }
    if (ev.key === 'Enter' && !mod && !ev.shiftKey && !ev.altKey) {
      if (active instanceof HTMLButtonElement || active instanceof HTMLAnchorElement) return; // activate it
      ev.preventDefault();
      submit();
      return;
    }
    const widget = view?.widgets.find((w) => w.el.contains(active)) ?? null;
    if (widget?.onKey(ev)) {
      ev.preventDefault();
      return;
    }
    if ((ev.key === 's' || ev.key === 'S') && !mod && !ev.altKey) {
      ev.preventDefault();
      skip();
      return;
    }
    if (!widget && view && /^[0-9]$/.test(ev.key) && !mod) {
      // Nothing focused yet: the first question takes the key.
      const first = view.widgets[0];
      first?.focus();
      if (first?.onKey(ev)) ev.preventDefault();
    }
  };
  document.addEventListener('keydown', onKey);

  const onLoadError = (err: unknown): void => {
    if (api.isAbortError(err)) return;
    replaceChildren(stage);
    ctx.fail(err, stage, () => void load());
  };

  const load = async (): Promise<void> => {
    replaceChildren(stage, loading());
    try {
      project = await api.getProject(slug, id, ctx.signal);
      ctx.setTitle(`Labeling · ${project.name}`);
      replaceChildren(heading, project.name || 'Labeling');
      if (!project.permissions.includes('annotate')) {
        replaceChildren(stage, errorBox('You may not label items in this project.'));
        return;
      }
      const p = project;
      session = new WorkSession(
        slug,
        id,
        {
          onPending: (n) => {
            replaceChildren(saving, n ? `Saving ${n}…` : 'All saved');
            saving.dataset.pending = String(n);
          },
          onQueue: () => {
            root.dataset.upcoming = session?.upcoming ? '1' : '0';
          },
          onRetrying: (_lease, attempt) => replaceChildren(saving, `Connection problem: retrying (${attempt})…`),
          onRefused: (lease, err) => {
            const what = `Item ${lease.item.external_id || lease.item.id.slice(0, 8)}`;
            if (err.code === 'lease_expired') {
              notice(`${what}: the lease expired before your answer arrived, so it was not saved. The item went back to the pool.`, 'error');
            } else if (err.status === 400 && session && session.remaining(lease) > 0) {
              const detail = Object.entries(err.fields).map(([f, m]) => `${f}: ${m.join(' ')}`).join('; ');
              notice(`${what} was not saved: ${err.message} ${detail}`, 'error', {
                label: 'Go back to it',
                run: () => {
                  session?.restore(lease);
                  show();
                },
              });
            } else {
              notice(`${what} was not saved: ${err.message}`, 'error');
            }
          },
        },
        {
          preload: (url) => {
            const img = new Image();
            img.src = url;
          },
          mediaUrl,
          imageFields: imageFields(p),
        },
      );
      await session.start(ctx.signal);
      show();
      timer = window.setInterval(tick, 1000);
    } catch (err) {
      onLoadError(err);
    }
  };

  ctx.signal.addEventListener('abort', () => {
    document.removeEventListener('keydown', onKey);
    if (timer !== null) clearInterval(timer);
    view?.destroy();
    // Leaving the screen: give the items back so others can label them (submits still finish).
    void session?.settle().then(() => session?.releaseAll());
  });

  void load();
  return root;
}
