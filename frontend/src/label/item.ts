/** One item on screen: its data (as text only) and a control per label field. */

import type { LabelField, LabelSchema } from '../api';
import { h } from '../dom';
import { boxesWidget } from './boxes';
import { comparisonWidget, initialComparison } from './comparison';
import { choicesWidget, ratingWidget, textWidget } from './simple';
import { spansWidget } from './spans';
import { LabelState, type Values } from './state';
import { stringList, type FieldContext, type FieldWidget } from './types';

export const FIELD_TYPES = ['choices', 'rating', 'text', 'spans', 'boxes', 'comparison'] as const;

const FACTORIES: Record<string, (ctx: FieldContext) => FieldWidget> = {
  choices: choicesWidget,
  rating: ratingWidget,
  text: textWidget,
  spans: spansWidget,
  boxes: boxesWidget,
  comparison: comparisonWidget,
};

export interface ItemViewOptions {
  schema: LabelSchema;
  data: Record<string, unknown>;
  mediaUrl(field: string): string | null;
  announce(message: string): void;
  random?: () => number;
}

export interface ItemView {
  el: HTMLElement;
  state: LabelState;
  widgets: FieldWidget[];
  /** The first blocking problem and its field, or null when the answer can be submitted. */
  problem(): { widget: FieldWidget; message: string } | null;
  result(): Record<string, unknown>;
  focusFirst(): void;
  destroy(): void;
}

/** Data fields shown as plain text above the controls: sources of spans, boxes and
 * comparisons are shown by their control; lists and JSON are not shown when the item is a
 * comparison (they may name the models). */
export function displayedData(schema: LabelSchema, data: Record<string, unknown>): Array<[string, string]> {
  const fields = schema.fields ?? [];
  const sources = new Set(fields.map((f) => String(f.source ?? '')).filter(Boolean));
  const comparing = fields.some((f) => f.type === 'comparison');
  const spec = schema.data ?? {};
  const out: Array<[string, string]> = [];
  for (const [name, s] of Object.entries(spec)) {
    if (sources.has(name)) continue;
    const v = data[name];
    if (v === undefined || v === null) continue;
    const type = typeof s === 'object' && s !== null ? String(s.type) : 'text';
    if (type === 'image') continue;
    if ((type === 'text_list' || type === 'json') && comparing) continue;
    if (type === 'text_list') out.push([name, stringList(v).join('\n')]);
    else if (type === 'json') out.push([name, JSON.stringify(v, null, 2)]);
    else out.push([name, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return out;
}

export function initialValues(fields: LabelField[], data: Record<string, unknown>, random?: () => number): Values {
  const values: Values = {};
  for (const f of fields) {
    if (f.type === 'comparison') {
      values[f.name] = initialComparison(stringList(data[String(f.source ?? '')]).length, random);
    } else if (f.type === 'spans' || f.type === 'boxes' || (f.type === 'choices' && f.multiple)) {
      values[f.name] = [];
    } else if (f.type === 'text') {
      values[f.name] = '';
    }
  }
  return values;
}

export function renderItem(opts: ItemViewOptions): ItemView {
  const fields = (opts.schema.fields ?? []).filter((f) => f.type in FACTORIES);
  const state = new LabelState(initialValues(fields, opts.data, opts.random));
  const widgets = fields.map((field, index) =>
    FACTORIES[field.type]!({ field, state, data: opts.data, mediaUrl: opts.mediaUrl, announce: opts.announce, index }),
  );
  const unsub = state.onChange((source) => {
    for (const w of widgets) if (source === null || w.name === source) w.sync();
  });
  const shown = displayedData(opts.schema, opts.data);
  const el = h(
    'div',
    { class: 'item-view' },
    shown.length
      ? h(
          'dl',
          { class: 'item-data', 'data-testid': 'item-data' },
          shown.map(([k, v]) => [h('dt', null, k), h('dd', { class: 'prewrap', 'data-key': k }, v)]).flat(),
        )
      : null,
    widgets.map((w) => w.el),
  );
  return {
    el,
    state,
    widgets,
    problem() {
      for (const w of widgets) {
        const message = w.problem();
        if (message) return { widget: w, message };
      }
      return null;
    },
    result() {
      const out: Record<string, unknown> = {};
      for (const w of widgets) {
        const v = w.result();
        if (v !== undefined) out[w.name] = v;
      }
      return out;
    },
    focusFirst() {
      widgets[0]?.focus();
    },
    destroy() {
      unsub();
      for (const w of widgets) w.destroy?.();
    },
  };
}
