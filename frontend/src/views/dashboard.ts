/**
 * /t/{slug}/projects/{id}/dashboard — progress over time, throughput per annotator,
 * agreement per label field and gold accuracy, as hand-drawn SVG charts.
 */

import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import { barChart, cumulative, formatNumber, legend, lineChart, type LineSeries } from '../staff/charts';
import * as staff from '../staff/client';
import { breadcrumb, percent, projectTabs, table } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

function bucketLabel(iso: string, bucket: 'hour' | 'day'): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  return bucket === 'day' ? `${mm}-${dd}` : `${dd} ${String(d.getUTCHours()).padStart(2, '0')}h`;
}

function chartCard(testid: string, title: string, note: string | null, ...content: (Node | null)[]): HTMLElement {
  return h('section', { class: 'chart-card card', 'data-testid': testid }, h('h2', null, title), note ? h('p', { class: 'hint' }, note) : null, content);
}

/** The progress-over-time chart: cumulative items × overlap (the target), annotations, reviews. */
export function progressChart(p: staff.Progress): HTMLElement {
  const labels = p.buckets.map((b) => bucketLabel(b.start, p.bucket));
  const items = cumulative(p.buckets.map((b) => b.items_added), p.items_before);
  const series: LineSeries[] = [
    { name: `Items × overlap (${p.overlap})`, values: items.map((n) => n * p.overlap), cls: 'target', dashed: true },
    { name: 'Annotations submitted', values: cumulative(p.buckets.map((b) => b.annotations), p.annotations_before), cls: 'series-1' },
    { name: 'Reviews decided', values: cumulative(p.buckets.map((b) => b.reviews), p.reviews_before), cls: 'series-2' },
  ];
  return chartCard(
    'chart-progress',
    'Progress over time',
    `Running totals per ${p.bucket} (UTC). The dashed line is the work to do: every item needs ${p.overlap} annotation${p.overlap === 1 ? '' : 's'}.`,
    lineChart({ title: 'Progress over time', labels, series }),
    legend(series),
  );
}

/** Annotations per bucket for the busiest annotators (up to six lines). */
export function throughputOverTime(p: staff.Progress): HTMLElement {
  const labels = p.buckets.map((b) => bucketLabel(b.start, p.bucket));
  const series: LineSeries[] = p.annotators.slice(0, 6).map((a, i) => ({ name: a.username, values: a.counts, cls: `series-${i + 1}` }));
  return chartCard(
    'chart-throughput-time',
    `Annotations per ${p.bucket}, per annotator`,
    p.annotators.length > 6 ? `The ${6} busiest of ${p.annotators.length} annotators.` : null,
    series.length ? lineChart({ title: 'Annotations per annotator over time', labels, series, height: 220 }) : h('p', { class: 'muted' }, 'No annotations in this window.'),
    series.length ? legend(series) : null,
  );
}

export function throughputChart(s: staff.ProjectStats): HTMLElement {
  const rows = [...s.annotators].sort((a, b) => b.annotations - a.annotations);
  return chartCard(
    'chart-throughput',
    'Throughput per annotator',
    s.median_seconds_per_item !== null ? `Median time per item: ${s.median_seconds_per_item.toFixed(1)} s.` : null,
    rows.length
      ? barChart({
          title: 'Annotations per annotator',
          bars: rows.map((a) => ({
            label: a.username,
            value: a.annotations,
            display: `${a.annotations}${a.items_per_hour !== null ? ` · ${formatNumber(a.items_per_hour)}/h` : ''}`,
          })),
        })
      : h('p', { class: 'muted' }, 'No annotations yet.'),
  );
}

export function agreementChart(s: staff.ProjectStats): HTMLElement {
  const entries = Object.entries(s.agreement);
  const bars = entries.flatMap(([name, a]) => [
    { label: `${name}: % agree`, value: a.percent_agreement, display: a.pairs ? `${percent(a.percent_agreement)} · ${a.pairs} pairs` : 'no pairs yet', cls: 'series-1' },
    { label: `${name}: α`, value: a.krippendorff_alpha === null ? null : Math.max(0, a.krippendorff_alpha), display: a.krippendorff_alpha === null ? 'no data' : a.krippendorff_alpha.toFixed(2), cls: 'series-2' },
  ]);
  return chartCard(
    'chart-agreement',
    'Agreement per label field',
    'Percent agreement over pairs of annotators, and Krippendorff’s alpha (nominal; below 0 drawn as 0). Items count once at least two accepted results exist.',
    bars.length ? barChart({ title: 'Agreement per label field', bars, max: 1 }) : h('p', { class: 'muted' }, 'No label fields.'),
  );
}

export function goldChart(s: staff.ProjectStats): HTMLElement {
  const rows = s.annotators.filter((a) => a.gold_items > 0);
  return chartCard(
    'chart-gold',
    'Gold accuracy per annotator',
    'Mean score on gold items (items with a known answer).',
    rows.length
      ? barChart({
          title: 'Gold accuracy per annotator',
          bars: rows.map((a) => ({ label: a.username, value: a.gold_accuracy, display: `${percent(a.gold_accuracy)} of ${a.gold_items}`, cls: 'series-3' })),
          max: 1,
        })
      : h('p', { class: 'muted' }, 'No gold items answered yet.'),
  );
}

export function statusSummary(s: staff.ProjectStats): HTMLElement {
  const total = Object.values(s.items).reduce((a, b) => a + b, 0);
  const done = s.items.completed ?? 0;
  return h(
    'section',
    { class: 'summary card', 'data-testid': 'dashboard-summary' },
    h(
      'dl',
      { class: 'stat-tiles' },
      h('div', null, h('dt', null, 'Items'), h('dd', null, formatNumber(total))),
      Object.entries(s.items).map(([k, v]) => h('div', null, h('dt', null, k.replace('_', ' ')), h('dd', null, formatNumber(v)))),
      h('div', null, h('dt', null, 'Done'), h('dd', { 'data-testid': 'dashboard-done' }, total ? percent(done / Math.max(1, total - (s.items.gold ?? 0))) : '—')),
    ),
  );
}

/** Everyone who held a lease, and whether any of them is a member of a named competitor. */
export function workforceCard(w: staff.Workforce): HTMLElement {
  const held = w.wall_held;
  return h(
    'section',
    { class: 'card workforce', 'data-testid': 'dashboard-workforce', 'data-wall-held': String(held) },
    h('h2', null, 'Workforce and the competitor wall'),
    h(
      'p',
      { class: held ? 'wall ok' : 'wall bad', 'data-testid': 'wall-status' },
      !held
        ? `The wall did not hold: ${w.violations.length} worker(s) are now members of a competitor.`
        : w.competitors.length
          ? `The wall held: nobody who worked on this project is a member of ${w.competitors.join(', ')}.`
          : 'No competitors are named for this tenant (owners name them under Competitors).',
    ),
    w.workers.length
      ? table(
          'workforce-list',
          'Workers of this project',
          ['Worker', 'Role', 'Leases', 'Annotations', 'First lease', 'Last lease', 'Competitor member'],
          w.workers.map((r) =>
            h(
              'tr',
              { 'data-testid': 'workforce-row', class: r.competitor_member ? 'outcome-denied' : '' },
              h('th', { scope: 'row' }, r.username),
              h('td', null, r.role ?? '(no longer a member)'),
              h('td', { class: 'num' }, String(r.leases)),
              h('td', { class: 'num' }, String(r.annotations)),
              h('td', null, formatDate(r.first_lease_at)),
              h('td', null, formatDate(r.last_lease_at)),
              h('td', null, r.competitor_member ? 'yes' : 'no'),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'Nobody has worked on this project yet.'),
  );
}

/** The window a new project's dashboard opens with: hours for a young project, else days. */
export function defaultWindow(createdAt: string, now: number): string {
  const age = now - new Date(createdAt).getTime();
  if (!(age >= 0)) return 'day:30';
  if (age < 2 * 86400_000) return 'hour:2';
  if (age < 7 * 86400_000) return 'day:7';
  return 'day:30';
}

export function renderDashboard(ctx: ViewContext, slug: string, projectId: string): HTMLElement {
  ctx.setTitle('Dashboard');
  const top = h('div', null, h('h1', { tabindex: -1 }, 'Dashboard'));
  const body = h('div', { class: 'dashboard-body' }, loading());
  const bucket = h('select', { id: 'dashboard-window', 'data-testid': 'dashboard-window' },
    h('option', { value: 'day:30' }, 'Last 30 days, per day'),
    h('option', { value: 'day:7' }, 'Last 7 days, per day'),
    h('option', { value: 'hour:2' }, 'Last 48 hours, per hour'),
    h('option', { value: 'day:90' }, 'Last 90 days, per day'),
  );
  const controls = h('div', { class: 'toolbar' }, h('label', { for: 'dashboard-window' }, 'Window '), bucket);
  const root = h('section', { class: 'dashboard-screen', 'data-testid': 'dashboard-screen' }, top, controls, body);

  let project: api.Project | null = null;
  const load = async (): Promise<void> => {
    replaceChildren(body, loading());
    try {
      if (!project) {
        project = await api.getProject(slug, projectId, ctx.signal);
        bucket.value = defaultWindow(project.created_at, Date.now());
      }
      const [b, d] = bucket.value.split(':');
      ctx.setTitle(`Dashboard · ${project.name}`);
      replaceChildren(top, breadcrumb(slug, project), h('h1', { tabindex: -1 }, `Dashboard: ${project.name}`), projectTabs(slug, project, 'dashboard'));
      const [stats, progress, workforce] = await Promise.all([
        staff.getStats(slug, projectId, ctx.signal),
        staff.getProgress(slug, projectId, { bucket: b === 'hour' ? 'hour' : 'day', days: Number(d) || 30 }, ctx.signal),
        // The workforce report needs `manage`; reviewers and exporters see the charts only.
        project.permissions.includes('manage') ? staff.getWorkforce(slug, projectId, ctx.signal) : Promise.resolve(null),
      ]);
      replaceChildren(
        body,
        statusSummary(stats),
        h('div', { class: 'chart-grid' }, progressChart(progress), throughputOverTime(progress), throughputChart(stats), agreementChart(stats), goldChart(stats)),
        workforce ? workforceCard(workforce) : null,
      );
    } catch (err) {
      replaceChildren(body);
      ctx.fail(err, body, () => void load());
    }
  };
  bucket.addEventListener('change', () => void load());
  void load();
  return root;
}
