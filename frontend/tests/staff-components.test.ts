import { describe, expect, it } from 'vitest';
import type { LabelField } from '../src/api';
import { barChart, cumulative, lineChart, niceMax } from '../src/staff/charts';
import { matchStaffRoute, staffPaths } from '../src/staff/routes';
import { formatFieldValue, renderResult } from '../src/staff/results';
import { projectScreens } from '../src/staff/ui';
import { importFormat } from '../src/staff/client';
import { matchRoute } from '../src/router';
import { filtersFromSearch, filtersToSearch, isoToLocal, localToIso, renderEventRow, renderExportCard } from '../src/views/audit';
import { importFraction, importPhase, renderImportProgress } from '../src/views/imports';
import { renderAnnotationCard, renderItemData } from '../src/views/review';
import { agreementChart, defaultWindow, goldChart, progressChart, workforceCard } from '../src/views/dashboard';
import { assignableRoles } from '../src/views/members';
import type * as staff from '../src/staff/client';

const decode = (s: string): string | null => decodeURIComponent(s) || null;

describe('staff routes', () => {
  it('matches the staff screens and nothing else', () => {
    expect(matchStaffRoute('acme', ['projects', 'p1', 'review'], decode)).toEqual({ name: 'project-screen', screen: 'review', slug: 'acme', id: 'p1' });
    expect(matchStaffRoute('acme', ['members'], decode)).toEqual({ name: 'members', slug: 'acme' });
    expect(matchStaffRoute('acme', ['audit', 'exports'], decode)).toEqual({ name: 'audit-exports', slug: 'acme' });
    expect(matchStaffRoute('acme', ['projects', 'new', 'review'], decode)).toBeNull();
    expect(matchStaffRoute('acme', ['projects', 'p1', 'delete'], decode)).toBeNull();
    expect(matchStaffRoute('acme', ['projects'], decode)).toBeNull();
  });

  it('goes through the app router, and paths round-trip', () => {
    for (const path of [
      staffPaths.projectScreen('a b', 'p 1', 'dashboard'),
      staffPaths.members('acme'),
      staffPaths.competitors('acme'),
      staffPaths.auditLog('acme'),
      staffPaths.auditExports('acme'),
    ]) {
      expect(matchRoute(path).name).not.toBe('not-found');
    }
    expect(matchRoute('/t/acme/projects/p1/review')).toMatchObject({ name: 'project-screen', id: 'p1' });
    expect(matchRoute('/t/acme/projects/p1')).toEqual({ name: 'project', slug: 'acme', id: 'p1' });
    expect(matchRoute('/t/acme/audit/nope').name).toBe('not-found');
  });

  it('offers project screens by permission', () => {
    expect(projectScreens(['view'])).toEqual([]);
    expect(projectScreens(['view', 'review'])).toEqual(['review', 'dashboard']);
    expect(projectScreens(['manage'])).toEqual(['imports', 'dashboard', 'permissions']);
  });

  it('lets only owners hand out the owner role', () => {
    const m = (role: string) => ({ id: 'm', role, tenant: { id: 't', slug: 'acme', name: 'Acme' } });
    expect(assignableRoles(m('manager'))).not.toContain('owner');
    expect(assignableRoles(m('owner'))).toContain('owner');
  });
});

const fields: LabelField[] = [
  { name: 'topic', type: 'choices', choices: ['a', 'b'] },
  { name: 'tags', type: 'choices', choices: ['x', 'y', 'z'], multiple: true },
  { name: 'score', type: 'rating', min: 1, max: 5 },
  { name: 'note', type: 'text' },
  { name: 'ents', type: 'spans', labels: ['PER'], source: 'text' },
];

describe('results as text', () => {
  it('formats each field type as text', () => {
    expect(formatFieldValue(fields[1]!, ['x', 'z'])).toBe('x, z');
    expect(formatFieldValue(fields[2]!, 4)).toBe('4 / 5');
    expect(formatFieldValue(fields[4]!, [{ start: 0, end: 3, label: 'PER' }], { text: 'Bob ran' })).toBe('PER “Bob” [0–3]');
    expect(formatFieldValue({ name: 'c', type: 'comparison' }, { preferred: 1, criteria: { safety: 'tie' } })).toBe('preferred: response 2; safety: tie');
    expect(formatFieldValue(fields[0]!, undefined)).toBe('—');
  });

  it('renders result values as text, never markup', () => {
    const dl = renderResult(fields, { note: '<img src=x onerror=alert(1)>' }, {});
    expect(dl.querySelector('img')).toBeNull();
    expect(dl.querySelector('[data-field=note]')!.textContent).toBe('<img src=x onerror=alert(1)>');
  });
});

const annotation = (over: Partial<staff.Annotation> = {}): staff.Annotation => ({
  id: 'an1',
  item_id: 'i1',
  lease_id: 'l1',
  parent_id: null,
  author_id: 7,
  version: 1,
  status: 'pending_review',
  result: { topic: 'a' },
  gold_score: null,
  lead_time_ms: 1500,
  created_at: '2026-01-01T00:00:00Z',
  ...over,
});

describe('review components', () => {
  it('shows item data as text and annotations with their authors', () => {
    const item = renderItemData({ id: 'i1', external_id: 'e<1>', data: { text: '<script>x</script>', responses: ['one', 'two'] }, media: [], priority: 0 });
    expect(item.querySelector('script')).toBeNull();
    expect(item.textContent).toContain('<script>x</script>');
    expect(item.querySelectorAll('ol li')).toHaveLength(2);
    const card = renderAnnotationCard(annotation(), fields, {}, true, new Map([[7, 'ann-7']]));
    expect(card.dataset.testid).toBe('review-annotation-current');
    expect(card.textContent).toContain('by ann-7');
    const correction = renderAnnotationCard(annotation({ parent_id: 'an0', version: 2, status: 'accepted' }), fields, {}, false);
    expect(correction.textContent).toContain('Correction v2');
    expect(correction.textContent).toContain('user #7');
  });
});

const job = (over: Partial<staff.ImportJob> = {}): staff.ImportJob => ({
  id: 'j1',
  url: '/x',
  state: 'running',
  format: 'jsonl',
  filename: 'a.jsonl',
  dataset_id: 'd1',
  bytes_total: 1000,
  bytes_processed: 500,
  items_processed: 40,
  items_total: 100,
  rate_items_per_second: 12.5,
  error_count: 0,
  errors: [],
  attempts: 1,
  created_at: '2026-01-01T00:00:00Z',
  started_at: '2026-01-01T00:00:01Z',
  finished_at: null,
  ...over,
});

describe('import progress', () => {
  it('computes progress from items, then bytes', () => {
    expect(importFraction(job())).toBe(0.4);
    expect(importFraction(job({ items_total: null }))).toBe(0.5);
    // Read through but still writing: indeterminate, not a full bar.
    expect(importFraction(job({ items_total: null, bytes_processed: 1000 }))).toBeNull();
    expect(importPhase(job({ items_total: null, bytes_processed: 1000 }))).toBe('writing the items');
    expect(importPhase(job({ state: 'queued' }))).toBe('waiting for a worker');
    expect(importFraction(job({ state: 'succeeded', items_total: null, bytes_total: 0 }))).toBe(1);
    expect(importFraction(job({ items_total: null, bytes_total: 0 }))).toBeNull();
  });

  it('shows state, counts, rate and errors naming file, line and field', () => {
    const ok = renderImportProgress(job());
    expect(ok.querySelector('[data-testid=import-counts]')!.textContent).toBe('40 / 100 items');
    expect(ok.textContent).toContain('12.5 items/s');
    const failed = renderImportProgress(
      job({ state: 'failed', error_count: 3, errors: [{ file: 'a.jsonl', line: 7, field: 'data.text', message: '<b>missing</b>' }] }),
    );
    const row = failed.querySelector('[data-testid=import-error]')!;
    expect(row.textContent).toContain('a.jsonl');
    expect(row.textContent).toContain('7');
    expect(row.textContent).toContain('data.text');
    expect(row.querySelector('b')).toBeNull();
    expect(failed.textContent).toContain('The first 1 are shown');
  });

  it('takes the format from the file name', () => {
    expect(importFormat('x.JSONL')).toBe('jsonl');
    expect(importFormat('x.ndjson')).toBe('jsonl');
    expect(importFormat('x.csv')).toBe('csv');
    expect(importFormat('x.txt')).toBeNull();
  });
});

describe('charts', () => {
  it('computes nice bounds and running totals', () => {
    expect(niceMax(0)).toBe(1);
    expect(niceMax(7)).toBe(10);
    expect(niceMax(130)).toBe(200);
    expect(niceMax(240)).toBe(250);
    expect(cumulative([1, 2, 3], 10)).toEqual([11, 13, 16]);
  });

  it('draws one polyline per series with a tooltip per point, labels as text', () => {
    const svg = lineChart({ title: 'T', labels: ['a', 'b', 'c'], series: [{ name: '<s>', values: [1, 2, 3], cls: 'series-1' }] });
    expect(svg.querySelectorAll('polyline')).toHaveLength(1);
    expect(svg.querySelectorAll('circle')).toHaveLength(3);
    expect(svg.querySelector('s')).toBeNull();
    expect(svg.getAttribute('aria-label')).toContain('<s> 3');
    const points = svg.querySelector('polyline')!.getAttribute('points')!.split(' ');
    expect(points).toHaveLength(3);
  });

  it('draws bars to scale and "no data" for null', () => {
    const svg = barChart({ title: 'B', bars: [{ label: 'x', value: 0.5 }, { label: 'y', value: null }], max: 1, width: 560 });
    const fills = svg.querySelectorAll('rect.fill');
    expect(fills).toHaveLength(1);
    expect(Number(fills[0]!.getAttribute('width'))).toBeCloseTo((560 - 140 - 130) / 2, 0);
    expect(svg.textContent).toContain('no data');
  });

  it('builds the dashboard charts from the API answers', () => {
    const progress: staff.Progress = {
      bucket: 'day',
      since: '2026-01-01T00:00:00Z',
      until: '2026-01-03T00:00:00Z',
      overlap: 2,
      items_before: 10,
      annotations_before: 4,
      reviews_before: 0,
      buckets: [
        { start: '2026-01-01T00:00:00Z', items_added: 5, annotations: 3, reviews: 1 },
        { start: '2026-01-02T00:00:00Z', items_added: 0, annotations: 6, reviews: 2 },
      ],
      annotators: [],
    };
    const card = progressChart(progress);
    const series = [...card.querySelectorAll('[data-series]')].map((g) => g.getAttribute('data-series'));
    expect(series).toEqual(['Items × overlap (2)', 'Annotations submitted', 'Reviews decided']);
    const titles = [...card.querySelectorAll('circle title')].map((t) => t.textContent);
    expect(titles).toContain('Items × overlap (2), 01-02: 30');
    expect(titles).toContain('Annotations submitted, 01-02: 13');
    const stats: staff.ProjectStats = {
      items: { new: 1, completed: 1 },
      completed_at: null,
      agreement: { topic: { items: 3, pairs: 3, percent_agreement: 2 / 3, krippendorff_alpha: -0.2 } },
      annotators: [
        { user_id: 1, username: 'ann', annotations: 5, items_per_hour: 30, first_at: '', last_at: '', gold_items: 2, gold_accuracy: 0.5 },
        { user_id: 2, username: 'bob', annotations: 5, items_per_hour: null, first_at: '', last_at: '', gold_items: 0, gold_accuracy: null },
      ],
      median_seconds_per_item: 3,
    };
    expect(agreementChart(stats).textContent).toContain('67% · 3 pairs');
    expect(agreementChart(stats).textContent).toContain('-0.20');
    const gold = goldChart(stats);
    expect(gold.querySelectorAll('[data-label]')).toHaveLength(1);
    expect(gold.textContent).toContain('50% of 2');
  });
});

describe('dashboard window', () => {
  it('opens a young project by the hour and an older one by the day', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    expect(defaultWindow('2026-03-10T08:00:00Z', now)).toBe('hour:2');
    expect(defaultWindow('2026-03-06T08:00:00Z', now)).toBe('day:7');
    expect(defaultWindow('2025-03-06T08:00:00Z', now)).toBe('day:30');
    expect(defaultWindow('garbage', now)).toBe('day:30');
  });
});

describe('workforce card', () => {
  it('says whether the competitor wall held and marks competitor members', () => {
    const row = { user_id: 1, username: 'ann', role: 'annotator', leases: 3, annotations: 2, first_lease_at: '2026-01-01T00:00:00Z', last_lease_at: '2026-01-02T00:00:00Z', competitor_member: false };
    const held = workforceCard({ workers: [row], competitors: ['globex'], wall_held: true, violations: [] });
    expect(held.dataset.wallHeld).toBe('true');
    expect(held.querySelector('[data-testid=wall-status]')!.textContent).toContain('globex');
    const broken = workforceCard({ workers: [{ ...row, competitor_member: true, role: null }], competitors: ['globex'], wall_held: false, violations: [1] });
    expect(broken.dataset.wallHeld).toBe('false');
    expect(broken.querySelector('[data-testid=workforce-row]')!.className).toBe('outcome-denied');
    expect(broken.textContent).toContain('(no longer a member)');
  });
});

describe('audit components', () => {
  it('round-trips filters through the query string', () => {
    const f = { actor: 'a b', outcome: 'denied', since: '2026-01-01T00:00:00.000Z' };
    expect(filtersFromSearch(filtersToSearch(f))).toEqual(f);
    expect(filtersFromSearch('?bogus=1&action=x')).toEqual({ action: 'x' });
  });

  it('converts datetime-local values to UTC and back', () => {
    const iso = localToIso('2026-03-04T05:06');
    expect(iso).toMatch(/^2026-03-0\dT\d\d:06:00\.000Z$/);
    expect(isoToLocal(iso)).toBe('2026-03-04T05:06');
    expect(localToIso('')).toBe('');
  });

  it('renders an event row as metadata text', () => {
    const row = renderEventRow({
      id: 1,
      seq: null,
      occurred_at: '2026-01-01T00:00:00Z',
      actor_user_id: 3,
      actor_username: '<i>eve</i>',
      actor_membership_id: null,
      actor_role: '',
      auth_method: 'token',
      credential_id: 'c',
      grant_id: 'g1',
      action: 'project.read',
      resource_type: 'project',
      resource_id: 'p1',
      outcome: 'denied',
      reason: 'not a member of this tenant',
      status_code: 404,
      request_id: 'r',
      client_ip: '10.0.0.1',
      detail: {},
    });
    expect(row.dataset.outcome).toBe('denied');
    expect(row.querySelector('i')).toBeNull();
    expect(row.textContent).toContain('<i>eve</i>');
    expect(row.textContent).toContain('break-glass');
    expect(row.textContent).toContain('not a member of this tenant');
  });

  it('offers the bundle download only once the export succeeded', () => {
    const base: staff.AuditExport = {
      id: 'x1',
      period_from: '2026-01-01T00:00:00Z',
      period_to: '2026-02-01T00:00:00Z',
      state: 'running',
      created_at: '2026-02-01T00:00:00Z',
      finished_at: null,
      events_total: 200,
      events_processed: 50,
      size: null,
      sha256: '',
      error: '',
    };
    const running = renderExportCard('acme', base);
    expect(running.querySelector('[data-testid=audit-export-download]')).toBeNull();
    expect(running.querySelector('progress')!.value).toBeCloseTo(0.25);
    const done = renderExportCard('acme', { ...base, state: 'succeeded', events_processed: 200, size: 2048, sha256: 'ab' });
    expect(done.querySelector('[data-testid=audit-export-download]')!.getAttribute('href')).toBe('/api/v1/t/acme/audit/exports/x1/bundle');
  });
});
