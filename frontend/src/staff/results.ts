/**
 * Showing an annotation's result as text (per label field of the schema) and the correction
 * editor reviewers use: one control per field, prefilled with the annotation under review.
 */

import type { LabelField } from '../api';
import { h, replaceChildren } from '../dom';

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

export interface CorrectionEditor {
  element: HTMLElement;
  /** The result to send, or the problems (field → message) that stop it. */
  read(): { ok: true; result: Record<string, unknown> } | { ok: false; errors: Record<string, string> };
  showErrors(errors: Record<string, string[]>): void;
  focus(): void;
}

type Reader = () => { value?: unknown; error?: string };

/** The correction editor: choices as radios/checkboxes, rating as a number, text as a textarea,
 * structured fields (spans, boxes, comparison) as JSON checked on submit. */
export function correctionEditor(fields: readonly LabelField[], initial: unknown): CorrectionEditor {
  const start = typeof initial === 'object' && initial !== null ? (initial as Record<string, unknown>) : {};
  const readers = new Map<string, Reader>();
  const errorsEl = new Map<string, HTMLElement>();
  const firstControls: HTMLElement[] = [];

  const blocks = fields.map((f, index) => {
    const id = `correct-${index}`;
    const err = h('div', { class: 'field-error', 'data-testid': `correct-error-${f.name}` });
    errorsEl.set(f.name, err);
    const current = start[f.name];
    let control: HTMLElement;
    if (f.type === 'choices' && Array.isArray(f.choices)) {
      const multiple = f.multiple === true;
      const chosen = new Set(Array.isArray(current) ? current.map(String) : current === undefined ? [] : [String(current)]);
      const inputs = f.choices.map((choice, i) =>
        h('input', {
          type: multiple ? 'checkbox' : 'radio',
          name: id,
          value: choice,
          id: `${id}-${i}`,
          checked: chosen.has(choice),
          'data-testid': `correct-${f.name}-${choice}`,
        }),
      );
      control = h(
        'fieldset',
        { class: 'choices' },
        h('legend', null, f.name),
        inputs.map((input, i) => h('label', { for: `${id}-${i}`, class: 'choice' }, input, ' ', f.choices?.[i] ?? '')),
      );
      readers.set(f.name, () => {
        const picked = inputs.filter((x) => x.checked).map((x) => x.value);
        if (multiple) return { value: picked };
        return picked.length ? { value: picked[0] } : {};
      });
      if (inputs[0]) firstControls.push(inputs[0]);
    } else if (f.type === 'rating') {
      const input = h('input', {
        type: 'number',
        id,
        min: Number(f.min ?? 1),
        max: Number(f.max ?? 5),
        step: 1,
        value: typeof current === 'number' ? current : '',
        'data-testid': `correct-${f.name}`,
      });
      control = h('div', { class: 'field' }, h('label', { for: id }, f.name), input);
      readers.set(f.name, () => {
        if (input.value.trim() === '') return {};
        const n = Number(input.value);
        return Number.isInteger(n) ? { value: n } : { error: 'a whole number' };
      });
      firstControls.push(input);
    } else if (f.type === 'text') {
      const area = h('textarea', { id, rows: 3, 'data-testid': `correct-${f.name}` });
      area.value = typeof current === 'string' ? current : '';
      control = h('div', { class: 'field' }, h('label', { for: id }, f.name), area);
      readers.set(f.name, () => (area.value === '' ? {} : { value: area.value }));
      firstControls.push(area);
    } else {
      const area = h('textarea', { id, rows: 5, class: 'code', spellcheck: 'false', 'data-testid': `correct-${f.name}` });
      area.value = current === undefined ? '' : JSON.stringify(current, null, 2);
      control = h('div', { class: 'field' }, h('label', { for: id }, `${f.name} (${f.type}, JSON)`), area);
      readers.set(f.name, () => {
        if (area.value.trim() === '') return {};
        try {
          return { value: JSON.parse(area.value) as unknown };
        } catch (e) {
          return { error: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
        }
      });
      firstControls.push(area);
    }
    return h('div', { class: 'correct-field', 'data-field': f.name }, control, err);
  });

  const element = h('div', { class: 'correction-editor', 'data-testid': 'correction-editor' }, blocks);
  const showErrors = (errors: Record<string, string[]>): void => {
    for (const [name, el] of errorsEl) {
      const msgs = Object.entries(errors)
        .filter(([k]) => k === name || k === `result.${name}` || k.startsWith(`result.${name}.`) || k.startsWith(`result.${name}[`))
        .flatMap(([, m]) => m);
      replaceChildren(el, msgs.join(' '));
      el.classList.toggle('visible', msgs.length > 0);
    }
  };
  return {
    element,
    read() {
      const result: Record<string, unknown> = {};
      const errors: Record<string, string> = {};
      for (const [name, reader] of readers) {
        const r = reader();
        if (r.error) errors[name] = r.error;
        else if ('value' in r) result[name] = r.value;
      }
      return Object.keys(errors).length ? { ok: false, errors } : { ok: true, result };
    },
    showErrors,
    focus() {
      firstControls[0]?.focus();
    },
  };
}
