/**
 * /t/{slug}/audit — the access log (auditors and owners) with filters, newest first, cursor
 * paging; /t/{slug}/audit/exports — start a signed bundle export, watch it, download it.
 * Auditors see metadata only: who, what, when, outcome; never item content.
 */

import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import * as staff from '../staff/client';
import { staffPaths } from '../staff/routes';
import { bytes, canReadAudit, fieldMessages, liveStatus } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

const FILTER_KEYS = ['actor', 'action', 'resource_type', 'resource_id', 'outcome', 'since', 'until', 'break_glass'] as const;
type FilterKey = (typeof FILTER_KEYS)[number];

/** `<input type="datetime-local">` value (local time) → ISO string in UTC, or '' when empty/invalid. */
export function localToIso(value: string): string {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

/** ISO → the value a datetime-local input shows (local time, minutes). */
export function isoToLocal(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Filters from the page's query string (so a filtered view can be bookmarked and shared). */
export function filtersFromSearch(search: string): staff.AuditFilters {
  const q = new URLSearchParams(search);
  const out: staff.AuditFilters = {};
  for (const k of FILTER_KEYS) {
    const v = q.get(k);
    if (v) out[k] = v;
  }
  return out;
}

export function filtersToSearch(f: staff.AuditFilters): string {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k]) q.set(k, f[k] as string);
  const s = q.toString();
  return s ? `?${s}` : '';
}

function auditTabs(slug: string, current: 'log' | 'exports'): HTMLElement {
  return h(
    'nav',
    { class: 'tabs', 'aria-label': 'Audit screens' },
    h('a', { href: staffPaths.auditLog(slug), class: current === 'log' ? 'tab current' : 'tab', 'aria-current': current === 'log' ? 'page' : null }, 'Access log'),
    h('a', { href: staffPaths.auditExports(slug), class: current === 'exports' ? 'tab current' : 'tab', 'aria-current': current === 'exports' ? 'page' : null, 'data-testid': 'tab-audit-exports' }, 'Bundle exports'),
  );
}

function forbidden(root: HTMLElement): HTMLElement {
  root.appendChild(h('p', { 'data-testid': 'audit-forbidden' }, 'Only auditors and owners of this tenant can read its access log.'));
  return root;
}

/** One row of the log. Exported for tests. */
export function renderEventRow(e: staff.AuditEvent): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-testid': 'audit-event', 'data-outcome': e.outcome, class: `outcome-${e.outcome}` },
    h('td', { class: 'num', title: e.seq === null ? 'not sealed yet (a worker seals events in order)' : null }, e.seq === null ? '—' : String(e.seq)),
    h('td', { class: 'nowrap' }, formatDate(e.occurred_at)),
    h('td', null, e.actor_username || '—', e.actor_role ? h('span', { class: 'muted small' }, ` ${e.actor_role}`) : null, e.grant_id ? h('span', { class: 'tag danger', title: `operator grant ${e.grant_id}` }, 'break-glass') : null),
    h(
      'td',
      null,
      h('code', null, e.action),
      e.detail && Object.keys(e.detail).length
        ? h('details', { class: 'event-detail' }, h('summary', null, 'detail'), h('pre', { class: 'code small' }, JSON.stringify(e.detail, null, 1)))
        : null,
    ),
    h('td', null, e.resource_type, e.resource_id ? h('div', { class: 'muted small mono' }, e.resource_id) : null),
    h('td', null, h('span', { class: `tag outcome-${e.outcome}` }, e.outcome), e.reason ? h('div', { class: 'muted small' }, e.reason) : null),
    h('td', { class: 'num' }, e.status_code === null ? '—' : String(e.status_code)),
    h('td', { class: 'small nowrap' }, e.auth_method, e.client_ip ? h('div', { class: 'muted mono nowrap' }, e.client_ip) : null),
  );
}

export function renderAuditLog(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('Access log');
  const root = h('section', { class: 'audit-screen', 'data-testid': 'audit-log-screen' }, h('h1', { tabindex: -1 }, 'Access log'), auditTabs(slug, 'log'));
  if (!canReadAudit(ctx.membership)) return forbidden(root);

  const initial = filtersFromSearch(location.search);
  const input = (k: FilterKey, label: string, attrs: Record<string, string> = {}): HTMLInputElement => {
    const el = h('input', { id: `audit-${k}`, name: k, type: 'text', 'data-testid': `audit-filter-${k}`, autocomplete: 'off', ...attrs });
    el.value = (k === 'since' || k === 'until') && initial[k] ? isoToLocal(initial[k] as string) : (initial[k] ?? '');
    el.dataset.label = label;
    return el;
  };
  const fields = {
    actor: input('actor', 'Actor (username)'),
    action: input('action', 'Action', { placeholder: 'e.g. project.read' }),
    resource_type: input('resource_type', 'Resource type', { placeholder: 'e.g. project' }),
    resource_id: input('resource_id', 'Resource id'),
    since: input('since', 'From', { type: 'datetime-local' }),
    until: input('until', 'Until', { type: 'datetime-local' }),
  };
  const outcome = h('select', { id: 'audit-outcome', name: 'outcome', 'data-testid': 'audit-filter-outcome' },
    h('option', { value: '' }, 'any'),
    ['allowed', 'denied', 'failed'].map((o) => h('option', { value: o, selected: initial.outcome === o }, o)),
  );
  const breakGlass = h('input', { type: 'checkbox', id: 'audit-break-glass', 'data-testid': 'audit-filter-break_glass', checked: initial.break_glass === 'true' });
  const formError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'audit-filter-error' });
  const csv = h('a', { class: 'button', 'data-testid': 'audit-csv', download: '' }, 'Download CSV');
  const form = h(
    'form',
    { class: 'card filter-form', 'data-testid': 'audit-filters', role: 'search' },
    formError,
    h(
      'div',
      { class: 'filter-grid' },
      (Object.keys(fields) as (keyof typeof fields)[]).map((k) => h('div', { class: 'field' }, h('label', { for: `audit-${k}` }, fields[k].dataset.label ?? k), fields[k])),
      h('div', { class: 'field' }, h('label', { for: 'audit-outcome' }, 'Outcome'), outcome),
      h('div', { class: 'field checkbox-field' }, h('label', { for: 'audit-break-glass' }, breakGlass, ' Only operator (break-glass) access')),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'button primary', 'data-testid': 'audit-apply' }, 'Apply filters'),
      ' ',
      h('button', { type: 'reset', class: 'button', 'data-testid': 'audit-clear' }, 'Clear'),
      ' ',
      csv,
    ),
  );
  const status = liveStatus('audit-status');
  const tbody = h('tbody');
  const tableEl = h(
    'table',
    { class: 'data-table audit-table', 'data-testid': 'audit-events' },
    h('caption', { class: 'visually-hidden' }, 'Access events, newest first'),
    h('thead', null, h('tr', null, ['Seq', 'Time', 'Actor', 'Action', 'Resource', 'Outcome', 'HTTP', 'Via'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody,
  );
  const more = h('button', { type: 'button', class: 'button', hidden: true, 'data-testid': 'audit-more' }, 'Load older events');
  root.append(form, status, tableEl, h('div', { class: 'actions' }, more));

  let filters: staff.AuditFilters = initial;
  let next: string | null = null;
  let count = 0;
  let generation = 0;

  const read = (): staff.AuditFilters => {
    const f: staff.AuditFilters = {};
    for (const k of ['actor', 'action', 'resource_type', 'resource_id'] as const) if (fields[k].value.trim()) f[k] = fields[k].value.trim();
    if (outcome.value) f.outcome = outcome.value;
    if (breakGlass.checked) f.break_glass = 'true';
    const since = localToIso(fields.since.value);
    const until = localToIso(fields.until.value);
    if (since) f.since = since;
    if (until) f.until = until;
    return f;
  };

  const load = async (cursor: string | null): Promise<void> => {
    const gen = ++generation;
    more.disabled = true;
    replaceChildren(status, cursor ? 'Loading older events…' : 'Loading…');
    try {
      const page = await staff.listAuditEvents(slug, filters, cursor, ctx.signal);
      if (gen !== generation) return;
      if (!cursor) {
        replaceChildren(tbody);
        count = 0;
      }
      for (const e of page.results) tbody.appendChild(renderEventRow(e));
      count += page.results.length;
      next = page.next;
      more.hidden = next === null;
      replaceChildren(status, count === 0 ? h('span', { 'data-testid': 'audit-empty' }, 'No events match these filters.') : `${count} event${count === 1 ? '' : 's'} shown${next ? '; older ones on request' : ''}.`);
    } catch (err) {
      if (gen !== generation) return;
      if (err instanceof api.ApiError && err.status === 400) {
        replaceChildren(formError, h('ul', null, [err.message, ...fieldMessages(err.fields)].map((m) => h('li', null, m))));
        formError.classList.add('visible');
        replaceChildren(status);
      } else {
        replaceChildren(status);
        ctx.fail(err, status, () => void load(cursor));
      }
    } finally {
      more.disabled = false;
    }
  };

  const apply = (): void => {
    replaceChildren(formError);
    formError.classList.remove('visible');
    filters = read();
    csv.href = staff.auditCsvUrl(slug, filters);
    const search = filtersToSearch(filters);
    if (location.search !== search) history.replaceState(null, '', location.pathname + search);
    void load(null);
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    apply();
  });
  form.addEventListener('reset', () => setTimeout(apply, 0));
  more.addEventListener('click', () => {
    if (next) void load(next);
  });
  csv.href = staff.auditCsvUrl(slug, filters);
  void load(null);
  return root;
}

export const EXPORT_POLL_MS = 1000;

/** The card of one bundle export. Exported for tests. */
export function renderExportCard(slug: string, job: staff.AuditExport): HTMLElement {
  const bar = h('progress', { max: 1, 'data-testid': 'audit-export-bar', 'aria-label': 'Export progress' });
  if (job.state === 'succeeded') bar.value = 1;
  else if (job.events_total) bar.value = Math.min(1, job.events_processed / job.events_total);
  return h(
    'article',
    { class: `card export-card state-${job.state}`, 'data-testid': 'audit-export', 'data-export-id': job.id, 'data-state': job.state },
    h('p', null, h('span', { class: `tag state-${job.state}`, 'data-testid': 'audit-export-state' }, job.state), ` ${formatDate(job.period_from)} → ${formatDate(job.period_to)}`),
    bar,
    h('p', { class: 'small', 'data-testid': 'audit-export-counts' }, `${job.events_processed} / ${job.events_total ?? '?'} events`, job.size !== null ? ` · ${bytes(job.size)}` : ''),
    job.sha256 ? h('p', { class: 'small mono' }, `SHA-256 ${job.sha256}`) : null,
    job.error ? h('p', { class: 'error-text' }, job.error) : null,
    job.state === 'succeeded'
      ? h('a', { class: 'button primary', href: staff.auditBundleUrl(slug, job.id), download: '', 'data-testid': 'audit-export-download' }, 'Download bundle (ZIP)')
      : null,
  );
}

export function renderAuditExports(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('Audit bundle exports');
  const root = h('section', { class: 'audit-screen', 'data-testid': 'audit-exports-screen' }, h('h1', { tabindex: -1 }, 'Audit bundle exports'), auditTabs(slug, 'exports'));
  if (!canReadAudit(ctx.membership)) return forbidden(root);

  const now = new Date();
  const from = h('input', { type: 'datetime-local', id: 'export-from', required: true, 'data-testid': 'audit-export-from' });
  const to = h('input', { type: 'datetime-local', id: 'export-to', required: true, 'data-testid': 'audit-export-to' });
  from.value = isoToLocal(new Date(now.getTime() - 30 * 86400_000).toISOString());
  to.value = isoToLocal(new Date(now.getTime() + 60_000).toISOString());
  const formError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'audit-export-error' });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'audit-export-start' }, 'Export bundle');
  const form = h(
    'form',
    { class: 'card inline-form', 'data-testid': 'audit-export-form' },
    h('h2', null, 'New bundle'),
    h('p', { class: 'hint' }, 'A worker seals the log, then writes a ZIP of the events, signed checkpoints, public keys and a report. Verify it offline with tools/verify_bundle.py.'),
    formError,
    h('div', { class: 'field' }, h('label', { for: 'export-from' }, 'Period from'), from),
    h('div', { class: 'field' }, h('label', { for: 'export-to' }, 'Period to'), to),
    h('div', { class: 'actions' }, submit),
  );
  const status = liveStatus('audit-export-status');
  const list = h('div', { 'data-testid': 'audit-export-list' }, loading());
  root.append(form, status, h('h2', null, 'Exports'), list);

  let timer: ReturnType<typeof setTimeout> | null = null;
  let waitingFor: string | null = null;
  ctx.signal.addEventListener('abort', () => {
    if (timer) clearTimeout(timer);
  });

  const load = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    try {
      const page = await staff.listAuditExports(slug, ctx.signal);
      replaceChildren(list, page.results.length ? page.results.map((j) => renderExportCard(slug, j)) : h('p', { class: 'muted' }, 'No exports yet.'));
      if (page.results.some((j) => j.state === 'queued' || j.state === 'running')) timer = setTimeout(() => void load(), EXPORT_POLL_MS);
      else if (waitingFor) {
        const done = page.results.find((j) => j.id === waitingFor);
        if (done) replaceChildren(status, done.state === 'succeeded' ? `Bundle ready: ${done.events_total ?? 0} events. Download it below.` : `The export ${done.state}.`);
        waitingFor = null;
      }
    } catch (err) {
      if (api.isAbortError(err)) return;
      replaceChildren(list);
      ctx.fail(err, list, () => void load());
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    replaceChildren(formError);
    formError.classList.remove('visible');
    const a = localToIso(from.value);
    const b = localToIso(to.value);
    if (!a || !b) {
      replaceChildren(formError, 'Enter both ends of the period.');
      formError.classList.add('visible');
      return;
    }
    submit.disabled = true;
    void (async () => {
      try {
        const job = await staff.startAuditExport(slug, a, b);
        waitingFor = job.id;
        replaceChildren(status, 'Export started: a worker seals the log and writes the bundle…');
        list.prepend(renderExportCard(slug, job));
        timer = setTimeout(() => void load(), EXPORT_POLL_MS);
      } catch (err) {
        if (err instanceof api.ApiError && err.status === 400) {
          replaceChildren(formError, h('ul', null, [err.message, ...fieldMessages(err.fields)].map((m) => h('li', null, m))));
          formError.classList.add('visible');
        } else ctx.fail(err, formError);
      } finally {
        submit.disabled = false;
      }
    })();
  });
  void load();
  return root;
}
