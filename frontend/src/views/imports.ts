/**
 * /t/{slug}/projects/{id}/imports — upload a dataset file and watch the import: state,
 * processed/total, rate, and errors naming file, line and field. Polls while it runs.
 */

import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import * as staff from '../staff/client';
import { breadcrumb, bytes, fieldMessages, liveStatus, projectTabs, table } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

export const POLL_MS = 1000;
const DONE = new Set(['succeeded', 'failed']);

/** Fraction done (0..1) of an import, or null when unknown. */
export function importFraction(job: staff.ImportJob): number | null {
  if (job.state === 'succeeded') return 1;
  if (job.items_total) return Math.min(1, job.items_processed / job.items_total);
  // The file read through but the items not yet written: unknown (an indeterminate bar),
  // rather than a full bar for an import that is still running.
  if (job.bytes_total && job.bytes_processed < job.bytes_total) return job.bytes_processed / job.bytes_total;
  return null;
}

/** What the worker is doing, in words. */
export function importPhase(job: staff.ImportJob): string {
  if (job.state === 'queued') return 'waiting for a worker';
  if (job.state !== 'running') return '';
  return job.bytes_total && job.bytes_processed >= job.bytes_total ? 'writing the items' : 'reading the file';
}

/** The live progress card of one import. Exported for tests. */
export function renderImportProgress(job: staff.ImportJob): HTMLElement {
  const frac = importFraction(job);
  const bar = h('progress', { max: 1, 'data-testid': 'import-progress-bar', 'aria-label': 'Import progress' });
  if (frac !== null) bar.value = frac;
  const total = job.items_total === null ? '?' : String(job.items_total);
  return h(
    'section',
    { class: `import-progress card state-${job.state}`, 'data-testid': 'import-progress', 'data-import-id': job.id, 'data-state': job.state },
    h('h2', null, `Import of ${job.filename || 'upload'}`),
    h(
      'p',
      null,
      h('span', { class: `tag state-${job.state}`, 'data-testid': 'import-state' }, job.state),
      ' ',
      h('span', { 'data-testid': 'import-counts' }, job.items_total === null ? `${job.items_processed} items so far` : `${job.items_processed} / ${total} items`),
      importPhase(job) ? ` · ${importPhase(job)}` : '',
      job.rate_items_per_second !== null ? ` · ${job.rate_items_per_second} items/s` : '',
      ` · ${bytes(job.bytes_processed)} of ${bytes(job.bytes_total)}`,
      job.attempts > 1 ? ` · attempt ${job.attempts}` : '',
    ),
    bar,
    job.state === 'failed' || job.error_count
      ? [
          h(
            'p',
            { class: 'error-text', 'data-testid': 'import-error-count' },
            `${job.error_count} error${job.error_count === 1 ? '' : 's'}; nothing of this import was written.`,
            job.error_count > job.errors.length ? ` The first ${job.errors.length} are shown.` : '',
          ),
          table(
            'import-errors',
            'Import errors',
            ['File', 'Line', 'Field', 'Problem'],
            job.errors.map((e) =>
              h(
                'tr',
                { 'data-testid': 'import-error' },
                h('td', null, e.file),
                h('td', { class: 'num' }, e.line === null ? '—' : String(e.line)),
                h('td', null, h('code', null, e.field)),
                h('td', null, e.message),
              ),
            ),
          ),
        ]
      : null,
    job.finished_at ? h('p', { class: 'muted small' }, `Finished ${formatDate(job.finished_at)}`) : null,
  );
}

function importRow(job: staff.ImportJob, onShow: (job: staff.ImportJob) => void): HTMLTableRowElement {
  const show = h('button', { type: 'button', class: 'link-button' }, job.filename || job.id);
  show.addEventListener('click', () => onShow(job));
  return h(
    'tr',
    { 'data-testid': 'import-row', 'data-import-id': job.id },
    h('td', null, show),
    h('td', null, h('span', { class: `tag state-${job.state}` }, job.state)),
    h('td', { class: 'num' }, `${job.items_processed}${job.items_total === null ? '' : ` / ${job.items_total}`}`),
    h('td', { class: 'num' }, String(job.error_count)),
    h('td', null, formatDate(job.created_at)),
  );
}

export function renderImports(ctx: ViewContext, slug: string, projectId: string): HTMLElement {
  ctx.setTitle('Imports');
  const top = h('div', null, h('h1', { tabindex: -1 }, 'Imports'));
  const status = liveStatus('import-status');
  const current = h('div', { 'data-testid': 'import-current' });
  const history = h('div', null, loading());
  const fileInput = h('input', { type: 'file', id: 'import-file', accept: '.jsonl,.json,.csv,.zip', required: true, 'data-testid': 'import-file' });
  const dataset = h('input', { type: 'text', id: 'import-dataset', maxlength: 200, 'data-testid': 'import-dataset' });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'import-submit' }, 'Start import');
  const formError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'import-form-error' });
  const form = h(
    'form',
    { class: 'card import-form', 'data-testid': 'import-form' },
    h('h2', null, 'New import'),
    h('p', { class: 'hint' }, 'JSONL, a JSON array, CSV, or a ZIP with images. Each record is checked against the label schema; an import lands whole or not at all.'),
    formError,
    h('div', { class: 'field' }, h('label', { for: 'import-file' }, 'File'), fileInput),
    h('div', { class: 'field' }, h('label', { for: 'import-dataset' }, 'Dataset name (optional)'), dataset),
    h('div', { class: 'actions' }, submit),
  );
  const root = h('section', { class: 'imports-screen', 'data-testid': 'imports-screen' }, top, status, form, current, h('h2', null, 'Earlier imports'), history);

  let timer: ReturnType<typeof setTimeout> | null = null;
  let watching: string | null = null;
  ctx.signal.addEventListener('abort', () => {
    if (timer) clearTimeout(timer);
  });

  const watch = (job: staff.ImportJob): void => {
    watching = job.id;
    if (timer) clearTimeout(timer);
    replaceChildren(current, renderImportProgress(job));
    // Keep the job's row in the list in step with the card.
    const row = [...history.querySelectorAll<HTMLElement>('[data-testid=import-row]')].find((r) => r.dataset.importId === job.id);
    row?.replaceWith(importRow(job, watch));
    if (DONE.has(job.state)) {
      status.classList.toggle('bad', job.state === 'failed');
      replaceChildren(status, job.state === 'succeeded' ? `Import finished: ${job.items_processed} items.` : `Import failed with ${job.error_count} error(s); nothing was written.`);
      return;
    }
    timer = setTimeout(() => void poll(job.id), POLL_MS);
  };

  const poll = async (id: string): Promise<void> => {
    if (ctx.signal.aborted || watching !== id) return;
    try {
      const job = await staff.getImport(slug, projectId, id, ctx.signal);
      if (watching !== id) return;
      watch(job);
      if (DONE.has(job.state)) void loadHistory();
    } catch (err) {
      if (api.isAbortError(err)) return;
      // A transient failure: keep polling, a little slower.
      replaceChildren(status, err instanceof api.ApiError ? `Could not refresh: ${err.message}` : 'Could not refresh.');
      timer = setTimeout(() => void poll(id), POLL_MS * 3);
    }
  };

  const loadHistory = async (): Promise<void> => {
    try {
      const page = await staff.listImports(slug, projectId, null, ctx.signal);
      replaceChildren(
        history,
        page.results.length
          ? table('import-list', 'Imports of this project', ['File', 'State', 'Items', 'Errors', 'Started'], page.results.map((j) => importRow(j, watch)))
          : h('p', { class: 'muted', 'data-testid': 'no-imports' }, 'No imports yet.'),
      );
      const running = page.results.find((j) => !DONE.has(j.state));
      if (running && watching === null) watch(running);
    } catch (err) {
      replaceChildren(history);
      ctx.fail(err, history, () => void loadHistory());
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    replaceChildren(formError);
    formError.classList.remove('visible');
    const file = fileInput.files?.[0];
    if (!file) {
      replaceChildren(formError, 'Choose a file to import.');
      formError.classList.add('visible');
      fileInput.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Uploading…';
    void (async () => {
      try {
        const job = await staff.startImport(slug, projectId, file, dataset.value.trim());
        status.classList.remove('bad');
        replaceChildren(status, `Import of ${job.filename} started.`);
        form.reset();
        watch(job);
        void loadHistory();
      } catch (err) {
        if (err instanceof api.ApiError && err.status !== 404) {
          replaceChildren(formError, h('ul', null, [err.message, ...fieldMessages(err.fields)].map((m) => h('li', null, m))));
          formError.classList.add('visible');
        } else ctx.fail(err, formError);
      } finally {
        submit.disabled = false;
        submit.textContent = 'Start import';
      }
    })();
  });

  void (async () => {
    try {
      const project = await api.getProject(slug, projectId, ctx.signal);
      ctx.setTitle(`Imports · ${project.name}`);
      replaceChildren(top, breadcrumb(slug, project), h('h1', { tabindex: -1 }, `Imports: ${project.name}`), projectTabs(slug, project, 'imports'));
      await loadHistory();
    } catch (err) {
      replaceChildren(root, top);
      ctx.fail(err, root);
    }
  })();
  return root;
}
