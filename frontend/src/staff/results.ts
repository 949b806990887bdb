/**
 * Showing an annotation's result as text, per label field of the schema (the reviewers'
 * correction editor reuses the annotators' controls, src/label).
 */

import type { LabelField } from '../api';
import { h } from '../dom';

function asText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Code points, as the server counts span offsets (browsers count UTF-16 units). */
function slice(text: string, start: number, end: number): string {
  return Array.from(text).slice(start, end).join('');
}

/** One field's value as a short, human-readable text. */
export function formatFieldValue(field: LabelField, value: unknown, data: Record<string, unknown> = {}): string {
  if (value === undefined || value === null || value === '') return '—';
  switch (field.type) {
    case 'choices':
      return Array.isArray(value) ? (value.length ? value.map(asText).join(', ') : '—') : asText(value);
    case 'rating':
      return `${asText(value)} / ${String(field.max ?? 5)}`;
    case 'spans': {
      if (!Array.isArray(value)) return asText(value);
      const source = typeof field.source === 'string' ? data[field.source] : undefined;
      return value.length
        ? value
            .map((s: { start?: number; end?: number; label?: string }) => {
              const excerpt =
                typeof source === 'string' && typeof s.start === 'number' && typeof s.end === 'number'
                  ? ` “${slice(source, s.start, s.end)}”`
                  : '';
              return `${asText(s.label)}${excerpt} [${String(s.start)}–${String(s.end)}]`;
            })
            .join('; ')
        : 'no spans';
    }
    case 'boxes':
      if (!Array.isArray(value)) return asText(value);
      return value.length
        ? value
            .map((b: { x?: number; y?: number; w?: number; h?: number; label?: string }) =>
              `${asText(b.label)} (${[b.x, b.y, b.w, b.h].map((n) => (typeof n === 'number' ? n.toFixed(2) : '?')).join(', ')})`,
            )
            .join('; ')
        : 'no boxes';
    case 'comparison': {
      if (typeof value !== 'object') return asText(value);
      const c = value as { preferred?: unknown; criteria?: Record<string, unknown>; rationale?: unknown };
      const pick = (p: unknown): string => (p === 'tie' ? 'tie' : typeof p === 'number' ? `response ${p + 1}` : asText(p));
      const parts = [`preferred: ${pick(c.preferred)}`];
      for (const [k, v] of Object.entries(c.criteria ?? {})) parts.push(`${k}: ${pick(v)}`);
      if (typeof c.rationale === 'string' && c.rationale) parts.push(`rationale: ${c.rationale}`);
      return parts.join('; ');
    }
    default:
      return asText(value);
  }
}

/** A <dl> of every schema field's value (fields the result lacks show "—"). */
export function renderResult(fields: readonly LabelField[], result: unknown, data: Record<string, unknown>): HTMLElement {
  const r = typeof result === 'object' && result !== null ? (result as Record<string, unknown>) : {};
  const known = new Set(fields.map((f) => f.name));
  const extra = Object.keys(r).filter((k) => !known.has(k));
  return h(
    'dl',
    { class: 'result' },
    fields.flatMap((f) => [
      h('dt', null, f.name),
      h('dd', { 'data-field': f.name }, formatFieldValue(f, r[f.name], data)),
    ]),
    extra.flatMap((k) => [h('dt', null, k), h('dd', { 'data-field': k }, asText(r[k]))]),
  );
}
