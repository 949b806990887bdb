/**
 * API calls of the reviewer, manager and auditor screens, through the typed client
 * (`call()` checks every path, parameter and body against the generated schema.d.ts).
 * Types are the schema's; where the schema says a body is free-form (project stats), the
 * shape the screens rely on is stated here.
 */

import { ApiError, call, cursorOf, type Page, type Schemas } from '../api';
import { fillPath, rawRequest } from '../api/client';

export type Annotation = Schemas['Annotation'];
export type ReviewItem = Schemas['LeaseItem'];
export type ReviewTask = Schemas['ReviewTask'];
export type Decision = Schemas['ReviewInputRequest']['decision'];
export type ReviewRecord = Schemas['Review'];
export type AnnotationDetail = Schemas['AnnotationDetail'];
export type ImportErrorRow = Schemas['ImportError'];
export type ImportJob = Schemas['Import'];
export type Member = Schemas['Membership'];
export type Grant = Schemas['Grant'];
export type Competitor = Schemas['Competitor'];
export type ProgressBucket = Schemas['ProgressBucket'];
export type Progress = Schemas['Progress'];
export type AuditEvent = Schemas['Event'];
export type AuditExport = Schemas['Export'];
export type Workforce = Schemas['WorkforceReport'];

/** GET .../stats answers free-form JSON in the schema; this is its shape (annotate/services/agreement.py). */
export interface ProjectStats {
  items: Record<string, number>;
  completed_at: string | null;
  agreement: Record<
    string,
    { items: number; pairs: number; percent_agreement: number | null; krippendorff_alpha: number | null }
  >;
  annotators: {
    user_id: number;
    username: string;
    annotations: number;
    items_per_hour: number | null;
    first_at: string;
    last_at: string;
    gold_items: number;
    gold_accuracy: number | null;
  }[];
  median_seconds_per_item: number | null;
}

export interface AuditFilters {
  actor?: string;
  action?: string;
  resource_type?: string;
  resource_id?: string;
  outcome?: string;
  since?: string;
  until?: string;
  /** 'true': only events under an operator's break-glass grant. */
  break_glass?: string;
}

const T = '/api/v1/t/{tenant}' as const;
const P = '/api/v1/t/{tenant}/projects/{project_id}' as const;

function must<X>(data: X | undefined): X {
  if (data === undefined) throw new ApiError(0, 'bad_response', 'The server sent an unexpected answer.');
  return data;
}

function page<X>(d: { next?: string | null; previous?: string | null; results: X[] }): Page<X> {
  return { next: d.next ?? null, previous: d.previous ?? null, results: d.results };
}

export type MemberRole = Schemas['MemberAddInputRequest']['role'];
export type ProjectPermission = Grant['permission'];

function cursor(url: string | null | undefined, template: string, params: Record<string, string>): string | undefined {
  return url ? cursorOf(url, fillPath(template, params)) : undefined;
}

// -- reviewers ---------------------------------------------------------------------------

/** The next annotation to review (held for this reviewer), or null when there is none. */
export async function reviewNext(slug: string, projectId: string, signal?: AbortSignal): Promise<ReviewTask | null> {
  const { data } = await call('post', `${P}/review/next`, { path: { tenant: slug, project_id: projectId }, signal });
  return data ?? null;
}

export async function reviewDecide(
  slug: string,
  projectId: string,
  annotationId: string,
  input: { decision: Decision; comment?: string; result?: unknown },
): Promise<ReviewRecord> {
  const { data } = await call('post', `${P}/annotations/{annotation_id}/review`, {
    path: { tenant: slug, project_id: projectId, annotation_id: annotationId },
    body: input,
  });
  return data;
}

export async function listAnnotations(
  slug: string,
  projectId: string,
  filter: { item?: string },
  signal?: AbortSignal,
): Promise<Page<Annotation>> {
  const { data } = await call('get', `${P}/annotations`, {
    path: { tenant: slug, project_id: projectId },
    query: { ...filter, page_size: 100 },
    signal,
  });
  return page(data);
}

export async function getAnnotation(slug: string, projectId: string, id: string, signal?: AbortSignal): Promise<AnnotationDetail> {
  const { data } = await call('get', `${P}/annotations/{annotation_id}`, {
    path: { tenant: slug, project_id: projectId, annotation_id: id },
    signal,
  });
  return data;
}

// -- managers ----------------------------------------------------------------------------

export async function listImports(slug: string, projectId: string, next?: string | null, signal?: AbortSignal): Promise<Page<ImportJob>> {
  const path = { tenant: slug, project_id: projectId };
  const { data } = await call('get', `${P}/imports`, {
    path,
    query: { cursor: cursor(next, `${P}/imports`, path), page_size: 50 },
    signal,
  });
  return page(data);
}

export async function getImport(slug: string, projectId: string, id: string, signal?: AbortSignal): Promise<ImportJob> {
  const { data } = await call('get', `${P}/imports/{import_id}`, { path: { tenant: slug, project_id: projectId, import_id: id }, signal });
  return data;
}

/** The format the server should read the file as, from its name. */
export function importFormat(filename: string): 'jsonl' | 'json' | 'csv' | 'zip' | null {
  const ext = filename.toLowerCase().split('.').pop() ?? '';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'json' || ext === 'csv' || ext === 'zip') return ext;
  return null;
}

/**
 * Start an import: the file is sent as the request body (streamed, never read into memory
 * here), its format from its extension. JSON bodies are typed by `call()`; a file body is
 * not JSON, so this one goes through the client's raw request with the schema's path.
 */
export async function startImport(slug: string, projectId: string, file: File, dataset: string): Promise<ImportJob> {
  const format = importFormat(file.name);
  if (!format) {
    throw new ApiError(400, 'bad_request', 'Choose a .jsonl, .json, .csv or .zip file.', { file: ['unknown file type'] });
  }
  const q = new URLSearchParams({ format, filename: file.name });
  if (dataset) q.set('dataset', dataset);
  const target = `${fillPath(`${P}/imports`, { tenant: slug, project_id: projectId })}?${q.toString()}`;
  const { data } = await rawRequest<ImportJob>('post', target, {
    body: file,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  return data;
}

export async function listMembers(slug: string, next?: string | null, signal?: AbortSignal): Promise<Page<Member>> {
  const path = { tenant: slug };
  const { data } = await call('get', `${T}/members`, { path, query: { cursor: cursor(next, `${T}/members`, path), page_size: 100 }, signal });
  return page(data);
}

export async function addMember(slug: string, input: { username: string; role: MemberRole }): Promise<Member> {
  const { data } = await call('post', `${T}/members`, { path: { tenant: slug }, body: input });
  return data;
}

export async function updateMember(slug: string, id: string, role: MemberRole): Promise<Member> {
  const { data } = await call('patch', `${T}/members/{membership_id}`, { path: { tenant: slug, membership_id: id }, body: { role } });
  return data;
}

export async function endMember(slug: string, id: string): Promise<void> {
  await call('delete', `${T}/members/{membership_id}`, { path: { tenant: slug, membership_id: id } });
}

export async function listGrants(slug: string, projectId: string, signal?: AbortSignal): Promise<Grant[]> {
  const { data } = await call('get', `${P}/permissions`, { path: { tenant: slug, project_id: projectId }, signal });
  return data;
}

export async function addGrant(slug: string, projectId: string, membership: string, permission: Grant['permission']): Promise<Grant> {
  const { data } = await call('post', `${P}/permissions`, { path: { tenant: slug, project_id: projectId }, body: { membership, permission } });
  return data;
}

export async function revokeGrant(slug: string, projectId: string, membership: string, permission: string): Promise<void> {
  await call('delete', `${P}/permissions/{membership_id}/{permission}`, {
    path: { tenant: slug, project_id: projectId, membership_id: membership, permission },
  });
}

export async function listCompetitors(slug: string, signal?: AbortSignal): Promise<Competitor[]> {
  const { data } = await call('get', `${T}/competitors`, { path: { tenant: slug }, signal });
  return data;
}

export async function addCompetitor(slug: string, competitor: string, note: string): Promise<Competitor> {
  const { data } = await call('post', `${T}/competitors`, { path: { tenant: slug }, body: { competitor, note } });
  return data;
}

export async function removeCompetitor(slug: string, id: string): Promise<void> {
  await call('delete', `${T}/competitors/{competitor_id}`, { path: { tenant: slug, competitor_id: id } });
}

export async function getStats(slug: string, projectId: string, signal?: AbortSignal): Promise<ProjectStats> {
  const { data } = await call('get', `${P}/stats`, { path: { tenant: slug, project_id: projectId }, signal });
  return must(data as unknown as ProjectStats | undefined);
}

export async function getProgress(
  slug: string,
  projectId: string,
  query: { bucket: 'hour' | 'day'; days: number },
  signal?: AbortSignal,
): Promise<Progress> {
  const { data } = await call('get', `${P}/progress`, { path: { tenant: slug, project_id: projectId }, query, signal });
  return data;
}

/** Who worked on the project, and whether the competitor wall held (manage permission). */
export async function getWorkforce(slug: string, projectId: string, signal?: AbortSignal): Promise<Workforce> {
  const { data } = await call('get', `${P}/workforce`, { path: { tenant: slug, project_id: projectId }, signal });
  return data;
}

// -- auditors ----------------------------------------------------------------------------

export async function listAuditEvents(slug: string, filters: AuditFilters, next?: string | null, signal?: AbortSignal): Promise<Page<AuditEvent>> {
  const path = { tenant: slug };
  const { data } = await call('get', `${T}/audit/events`, {
    path,
    query: { ...filters, break_glass: filters.break_glass === 'true' ? true : undefined, cursor: cursor(next, `${T}/audit/events`, path), page_size: 50 },
    signal,
  });
  return page(data);
}

function plainQuery(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Where the CSV of the same filters downloads from (a plain link; the browser saves it). */
export function auditCsvUrl(slug: string, filters: AuditFilters): string {
  return fillPath(`${T}/audit/events.csv`, { tenant: slug }) + plainQuery({ ...filters });
}

export async function listAuditExports(slug: string, signal?: AbortSignal): Promise<Page<AuditExport>> {
  const { data } = await call('get', `${T}/audit/exports`, { path: { tenant: slug }, query: { page_size: 20 }, signal });
  return page(data);
}

export async function startAuditExport(slug: string, period_from: string, period_to: string): Promise<AuditExport> {
  const { data } = await call('post', `${T}/audit/exports`, { path: { tenant: slug }, body: { period_from, period_to } });
  return data;
}

export async function getAuditExport(slug: string, id: string, signal?: AbortSignal): Promise<AuditExport> {
  const { data } = await call('get', `${T}/audit/exports/{export_id}`, { path: { tenant: slug, export_id: id }, signal });
  return data;
}

/** The bundle download (a plain link: the browser saves the ZIP). */
export function auditBundleUrl(slug: string, id: string): string {
  return fillPath(`${T}/audit/exports/{export_id}/bundle`, { tenant: slug, export_id: id });
}
