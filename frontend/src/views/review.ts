/**
 * /t/{slug}/projects/{id}/review — the next annotation to review, beside every other
 * annotation of the same item. Accept (A), reject with a comment (R), or correct (C): a
 * correction is a new annotation version, the old one stays in the history.
 */

import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import * as staff from '../staff/client';
import { renderItem } from '../label/item';
import '../label/label.css';
import { renderResult } from '../staff/results';
import { breadcrumb, fieldMessages, liveStatus, projectTabs, typingTarget } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

function dataText(value: unknown): HTMLElement {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return h('ol', { class: 'data-list' }, value.map((v) => h('li', { class: 'prewrap' }, v)));
  }
  return h('div', { class: 'prewrap data-value' }, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
}

/** The item's data, shown as text only (never markup). Exported for tests. */
export function renderItemData(item: staff.ReviewItem): HTMLElement {
  const data = typeof item.data === 'object' && item.data !== null ? (item.data as Record<string, unknown>) : {};
  return h(
    'section',
    { class: 'item-data card', 'data-testid': 'review-item', 'data-item-id': item.id },
    h('h2', null, 'Item', item.external_id ? [' ', h('code', null, item.external_id)] : null),
    h(
      'dl',
      { class: 'data-fields' },
      Object.entries(data).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, dataText(v))]),
    ),
  );
}

/** The same-origin URL of an item's media file (authorized and logged by the server). */
function mediaUrlOf(slug: string, projectId: string) {
  return (item: staff.ReviewItem, field: string): string | null => {
    const media = Array.isArray(item.media) ? (item.media as Array<{ field?: unknown }>) : [];
    if (!media.some((m) => m && m.field === field)) return null;
    return `${api.API_PREFIX}/t/${encodeURIComponent(slug)}/projects/${encodeURIComponent(projectId)}/items/${encodeURIComponent(item.id)}/media/${encodeURIComponent(field)}`;
  };
}

/** One annotation card. Exported for tests. */
export function renderAnnotationCard(
  a: staff.Annotation,
  fields: readonly api.LabelField[],
  data: Record<string, unknown>,
  current: boolean,
  names: ReadonlyMap<number, string> = new Map(),
): HTMLElement {
  const who = names.get(a.author_id) ?? `user #${a.author_id}`;
  const title = current ? 'Under review' : a.parent_id ? `Correction v${a.version}` : `Annotation v${a.version}`;
  return h(
    'article',
    {
      class: current ? 'annotation-card card current' : 'annotation-card card',
      'data-testid': current ? 'review-annotation-current' : 'review-annotation',
      'data-annotation-id': a.id,
    },
    h(
      'header',
      null,
      h('strong', null, title),
      ' ',
      h('span', { class: `tag status-${a.status}` }, a.status.replace('_', ' ')),
    ),
    h(
      'p',
      { class: 'muted small' },
      `by ${who} · v${a.version} · ${formatDate(a.created_at)}`,
      a.lead_time_ms !== null ? ` · ${(a.lead_time_ms / 1000).toFixed(1)} s` : '',
    ),
    renderResult(fields, a.result, data),
  );
}

export function renderReview(ctx: ViewContext, slug: string, projectId: string): HTMLElement {
  ctx.setTitle('Review');
  const status = liveStatus('review-status');
  const mediaUrl = mediaUrlOf(slug, projectId);
  const body = h('div', { class: 'review-body' }, loading());
  const top = h('div', null, h('h1', { tabindex: -1 }, 'Review'));
  const root = h('section', { class: 'review-screen', 'data-testid': 'review-screen' }, top, status, body);

  let project: api.Project | null = null;
  // Annotators' names, from the project's stats (reviewers may read them); ids otherwise.
  let names: Map<number, string> | null = null;
  let task: staff.ReviewTask | null = null;
  let busy = false;
  let mode: 'idle' | 'reject' | 'correct' = 'idle';
  let actions: { accept(): void; reject(): void; correct(): void; next(): void } | null = null;

  const say = (text: string): void => replaceChildren(status, text);

  const showEmpty = (): void => {
    task = null;
    const again = h('button', { type: 'button', class: 'button', 'data-testid': 'review-check-again' }, 'Check again (N)');
    again.addEventListener('click', () => void loadNext());
    actions = { accept() {}, reject() {}, correct() {}, next: () => void loadNext() };
    replaceChildren(
      body,
      h(
        'div',
        { class: 'empty card', 'data-testid': 'review-empty' },
        h('p', null, 'Nothing to review right now.'),
        again,
      ),
    );
  };

  const decide = async (input: { decision: staff.Decision; comment?: string; result?: unknown }, onError: (err: api.ApiError) => void): Promise<void> => {
    if (!task || busy) return;
    busy = true;
    root.setAttribute('aria-busy', 'true');
    try {
      await staff.reviewDecide(slug, projectId, task.annotation.id, input);
      say(
        input.decision === 'accept'
          ? 'Accepted. Showing the next annotation.'
          : input.decision === 'reject'
            ? 'Rejected: the item goes back to the pool. Showing the next annotation.'
            : 'Correction saved as a new version. Showing the next annotation.',
      );
      busy = false;
      await loadNext(false);
    } catch (err) {
      if (err instanceof api.ApiError && (err.status === 400 || err.status === 409)) onError(err);
      else ctx.fail(err, body, () => void loadNext());
    } finally {
      busy = false;
      root.removeAttribute('aria-busy');
    }
  };

  const renderTask = (t: staff.ReviewTask, others: staff.Annotation[]): void => {
    cleanup();
    cleanup = () => {};
    const p = project as api.Project;
    const fields = Array.isArray(p.label_schema?.fields) ? p.label_schema.fields : [];
    const data = typeof t.item.data === 'object' && t.item.data !== null ? (t.item.data as Record<string, unknown>) : {};
    mode = 'idle';

    const error = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'review-error' });
    const showError = (messages: string[]): void => {
      replaceChildren(error, messages.length ? h('ul', null, messages.map((m) => h('li', null, m))) : null);
      error.classList.toggle('visible', messages.length > 0);
    };

    const accept = h('button', { type: 'button', class: 'button primary', 'data-testid': 'review-accept' }, 'Accept (A)');
    const reject = h('button', { type: 'button', class: 'button danger', 'data-testid': 'review-reject' }, 'Reject… (R)');
    const correct = h('button', { type: 'button', class: 'button', 'data-testid': 'review-correct' }, 'Correct… (C)');
    const panel = h('div', { class: 'decision-panel' });

    const comment = h('textarea', { id: 'review-comment', rows: 3, 'data-testid': 'review-comment', maxlength: 10000 });
    const openReject = (): void => {
      mode = 'reject';
      const send = h('button', { type: 'submit', class: 'button danger', 'data-testid': 'review-reject-submit' }, 'Reject with comment (Ctrl+Enter)');
      const form = h(
        'form',
        { class: 'card', 'data-testid': 'review-reject-form' },
        h('div', { class: 'field' }, h('label', { for: 'review-comment' }, 'Why is it rejected? (the annotator sees this)'), comment),
        h('div', { class: 'actions' }, send, ' ', cancelButton()),
      );
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        if (!comment.value.trim()) {
          showError(['A rejection needs a comment.']);
          comment.focus();
          return;
        }
        showError([]);
        void decide({ decision: 'reject', comment: comment.value.trim() }, (err) => showError([err.message, ...fieldMessages(err.fields)]));
      });
      comment.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
          ev.preventDefault();
          form.requestSubmit();
        }
      });
      replaceChildren(panel, form);
      comment.focus();
    };

    const openCorrect = (): void => {
      mode = 'correct';
      // The annotators' own controls (src/label), prefilled with the result under review: the
      // reviewer edits spans, boxes and comparisons the way they were made, by keyboard too.
      const editor = renderItem({
        schema: p.label_schema,
        data,
        mediaUrl: (field) => mediaUrl(t.item, field),
        announce: say,
      });
      const start = typeof t.annotation.result === 'object' && t.annotation.result !== null ? (t.annotation.result as Record<string, unknown>) : {};
      for (const w of editor.widgets) if (start[w.name] !== undefined) editor.state.set(w.name, start[w.name]);
      cleanup = () => editor.destroy();
      const note = h('textarea', { id: 'review-correct-comment', rows: 2, 'data-testid': 'review-correct-comment' });
      const send = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'review-correct-submit' }, 'Save correction (Ctrl+Enter)');
      const form = h(
        'form',
        { class: 'card', 'data-testid': 'review-correct-form' },
        h('h3', null, 'Correction (saved as a new version; the original stays in the history)'),
        h('p', { class: 'hint' }, 'Number keys choose in the focused question, Tab moves between questions, Ctrl+Z undoes, Ctrl+Enter saves, Esc cancels.'),
        h('div', { class: 'correction-editor', 'data-testid': 'correction-editor' }, editor.el),
        h('div', { class: 'field' }, h('label', { for: 'review-correct-comment' }, 'Comment (optional)'), note),
        h('div', { class: 'actions' }, send, ' ', cancelButton()),
      );
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const problem = editor.problem();
        if (problem) {
          showError([`${problem.widget.name}: ${problem.message}`]);
          problem.widget.focus();
          return;
        }
        showError([]);
        void decide({ decision: 'correct', result: editor.result(), comment: note.value.trim() }, (err) => {
          showError([err.message, ...fieldMessages(err.fields)]);
        });
      });
      form.addEventListener('keydown', (ev) => {
        const mod = ev.ctrlKey || ev.metaKey;
        if (ev.key === 'Enter' && mod) {
          ev.preventDefault();
          form.requestSubmit();
          return;
        }
        if (typingTarget(ev) || ev.key === 'Escape') return;
        if (mod && (ev.key === 'z' || ev.key === 'Z' || ev.key === 'y' || ev.key === 'Y')) {
          ev.preventDefault();
          if (ev.shiftKey || ev.key === 'y' || ev.key === 'Y') editor.state.redo();
          else editor.state.undo();
          return;
        }
        const widget = editor.widgets.find((w) => w.el.contains(document.activeElement));
        if (widget?.onKey(ev)) ev.preventDefault();
      });
      replaceChildren(panel, form);
      editor.focusFirst();
    };

    const cancelButton = (): HTMLButtonElement => {
      const b = h('button', { type: 'button', class: 'button', 'data-testid': 'review-cancel' }, 'Cancel (Esc)');
      b.addEventListener('click', () => closePanel());
      return b;
    };
    const closePanel = (): void => {
      mode = 'idle';
      cleanup();
      cleanup = () => {};
      replaceChildren(panel);
      showError([]);
      accept.focus();
    };

    accept.addEventListener('click', () => void decide({ decision: 'accept' }, (err) => showError([err.message, ...fieldMessages(err.fields)])));
    reject.addEventListener('click', openReject);
    correct.addEventListener('click', openCorrect);
    actions = {
      accept: () => accept.click(),
      reject: openReject,
      correct: openCorrect,
      next() {},
    };
    escape = closePanel;

    const siblings = others.filter((a) => a.id !== t.annotation.id && a.status !== 'superseded');
    replaceChildren(
      body,
      h(
        'p',
        { class: 'muted', 'data-testid': 'review-claim' },
        `Held for you until ${formatDate(t.review_claim_expires)}. Keys: A accept · R reject · C correct · Esc cancel.`,
      ),
      h(
        'div',
        { class: 'review-layout' },
        renderItemData(t.item),
        h(
          'section',
          { class: 'annotations', 'aria-label': 'Annotations of this item' },
          h('h2', null, `Annotations of this item (${siblings.length + 1})`),
          h(
            'div',
            { class: 'side-by-side', 'data-testid': 'review-annotations' },
            renderAnnotationCard(t.annotation, fields, data, true, names ?? undefined),
            siblings.map((a) => renderAnnotationCard(a, fields, data, false, names ?? undefined)),
          ),
        ),
      ),
      h('div', { class: 'actions review-actions' }, accept, ' ', reject, ' ', correct),
      error,
      panel,
    );
  };

  let escape: () => void = () => {};
  let cleanup: () => void = () => {};

  const loadNext = async (announce = true): Promise<void> => {
    if (busy) return;
    busy = true;
    if (announce) say('Loading the next annotation…');
    replaceChildren(body, loading('Loading the next annotation…'));
    try {
      project ??= await api.getProject(slug, projectId, ctx.signal);
      replaceChildren(top, breadcrumb(slug, project), h('h1', { tabindex: -1 }, `Review: ${project.name}`), projectTabs(slug, project, 'review'));
      ctx.setTitle(`Review · ${project.name}`);
      names ??= await staff.getStats(slug, projectId, ctx.signal).then(
        (st) => new Map(st.annotators.map((a) => [a.user_id, a.username])),
        (err: unknown) => {
          if (api.isAbortError(err)) throw err;
          return new Map<number, string>();
        },
      );
      task = await staff.reviewNext(slug, projectId, ctx.signal);
      if (!task) {
        showEmpty();
        if (announce) say('Nothing to review right now.');
        return;
      }
      const others = await staff.listAnnotations(slug, projectId, { item: task.item.id }, ctx.signal);
      renderTask(task, others.results);
      if (announce) say('');
    } catch (err) {
      replaceChildren(body);
      ctx.fail(err, body, () => void loadNext());
    } finally {
      busy = false;
    }
  };

  document.addEventListener(
    'keydown',
    (ev) => {
      if (!root.isConnected || ev.defaultPrevented || ev.altKey || ev.ctrlKey || ev.metaKey) return;
      if (ev.key === 'Escape' && mode !== 'idle') {
        ev.preventDefault();
        escape();
        return;
      }
      if (typingTarget(ev) || mode !== 'idle' || busy || !actions) return;
      const key = ev.key.toLowerCase();
      if (key === 'a' && task) actions.accept();
      else if (key === 'r' && task) actions.reject();
      else if (key === 'c' && task) actions.correct();
      else if (key === 'n' && !task) actions.next();
      else return;
      ev.preventDefault();
    },
    { signal: ctx.signal },
  );

  void loadNext();
  return root;
}
