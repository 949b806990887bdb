/**
 * Named-entity spans over a text. Offsets are Unicode code points, as the server counts them
 * (JavaScript strings count UTF-16 units: every offset is converted here).
 *
 * Keyboard: ←/→ move a word cursor, Shift+←/→ extend the selection by words, a number key gives
 * the selection (or the word under the cursor) that label; on a word inside an existing span with
 * no selection, a number key relabels that span; Delete removes the span under the cursor.
 * Mouse: select text, then press a number key or click a label.
 */

import type { LabelField } from '../api';
import { h, replaceChildren } from '../dom';
import { asString, digitOf, fieldTitle, keyHint, stringList, type FieldContext, type FieldWidget } from './types';

export interface Span {
  start: number;
  end: number;
  label: string;
}

/** Code-point offset of UTF-16 index `i` in `text`. */
export function cpIndex(text: string, i: number): number {
  let cp = 0;
  for (let k = 0; k < i && k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c >= 0xd800 && c <= 0xdbff && k + 1 < text.length) k++;
    cp++;
  }
  return cp;
}

/** Words of the text as code-point [start, end) ranges. */
export function tokenize(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const m of text.matchAll(/[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu)) {
    const s = cpIndex(text, m.index ?? 0);
    out.push([s, s + Array.from(m[0]).length]);
  }
  return out;
}

export function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start < b.end && b.start < a.end;
}

export function readSpans(v: unknown): Span[] {
  if (!Array.isArray(v)) return [];
  return v.filter(
    (s): s is Span =>
      typeof s === 'object' && s !== null && typeof (s as Span).start === 'number' && typeof (s as Span).end === 'number',
  );
}

export function sourceText(field: LabelField, data: Record<string, unknown>): string {
  return asString(data[String(field.source ?? '')]);
}

export function spansWidget(ctx: FieldContext): FieldWidget {
  const { field, state } = ctx;
  const labels = stringList(field.labels);
  const allowOverlap = field.allow_overlap === true;
  const text = sourceText(field, ctx.data);
  const chars = Array.from(text); // code points
  const tokens = tokenize(text);
  let cursor = 0; // token index
  let anchor: number | null = null; // token index where a keyboard selection started
  let mouseSel: { start: number; end: number } | null = null;

  const legend = h('div', { class: 'label-legend', role: 'group', 'aria-label': 'Labels' });
  labels.forEach((label, i) => {
    const b = h(
      'button',
      { type: 'button', class: `label-chip lab-${i % 10}`, tabindex: -1, 'data-label': label },
      h('kbd', null, keyHint(i)),
      ' ',
      label,
    );
    b.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the text selection
    b.addEventListener('click', () => {
      apply(i);
      root.focus();
    });
    legend.appendChild(b);
  });
  const textEl = h('div', { class: 'span-text prewrap', 'data-testid': `span-text-${field.name}` });
  const list = h('ul', { class: 'span-list', 'aria-label': 'Spans' });
  const root = h(
    'section',
    {
      class: 'label-field label-spans',
      tabindex: 0,
      'data-testid': `field-${field.name}`,
      'data-field-type': 'spans',
      'aria-label': `${fieldTitle(field)}: ←/→ move, Shift+←/→ select, number keys label, Delete removes`,
    },
    h('h2', { class: 'field-title' }, fieldTitle(field)),
    h(
      'p',
      { class: 'field-hint' },
      `Select text (mouse, or ←/→ and Shift+←/→), then press a label's number. Delete removes a span. ${
        allowOverlap ? 'Spans may overlap.' : 'Spans may not overlap.'
      }`,
    ),
    legend,
    textEl,
    list,
  );

  const spans = (): Span[] => readSpans(state.get(field.name));

  const selection = (): { start: number; end: number } | null => {
    if (mouseSel) return mouseSel;
    if (!tokens.length) return null;
    const a = anchor ?? cursor;
    const lo = Math.min(a, cursor);
    const hi = Math.max(a, cursor);
    return { start: tokens[lo]![0], end: tokens[hi]![1] };
  };

  const spanAtCursor = (): number => {
    const t = tokens[cursor];
    if (!t) return -1;
    const all = spans();
    for (let i = all.length - 1; i >= 0; i--) {
      const s = all[i]!;
      if (s.start < t[1] && t[0] < s.end) return i;
    }
    return -1;
  };

  const apply = (labelIndex: number): boolean => {
    const label = labels[labelIndex];
    if (label === undefined) return false;
    const all = spans();
    const hasRange = mouseSel !== null || (anchor !== null && anchor !== cursor);
    const existing = hasRange ? -1 : spanAtCursor();
    if (existing >= 0) {
      const s = all[existing]!;
      all[existing] = { ...s, label };
      state.set(field.name, all);
      ctx.announce(`Span "${chars.slice(s.start, s.end).join('')}" is now ${label}`);
      return true;
    }
    const sel = selection();
    if (!sel || sel.end <= sel.start) {
      ctx.announce('Select some text first.');
      return true;
    }
    const clash = all.find((s) => overlaps(s, sel));
    if (clash && !allowOverlap) {
      ctx.announce(
        `Refused: that overlaps the ${clash.label} span "${chars.slice(clash.start, clash.end).join('')}"; this field does not allow overlapping spans.`,
      );
      return true;
    }
    const next = [...all, { start: sel.start, end: sel.end, label }].sort((a, b) => a.start - b.start || a.end - b.end);
    state.set(field.name, next);
    ctx.announce(`Added ${label}: "${chars.slice(sel.start, sel.end).join('')}"`);
    anchor = null;
    mouseSel = null;
    window.getSelection()?.removeAllRanges();
    sync();
    return true;
  };

  const remove = (index: number): void => {
    const all = spans();
    const s = all[index];
    if (!s) return;
    all.splice(index, 1);
    state.set(field.name, all);
    ctx.announce(`Removed ${s.label}: "${chars.slice(s.start, s.end).join('')}"`);
  };

  // Mouse selection → code-point offsets, via the segment each text node sits in.
  const pointOf = (node: Node | null, offset: number): number | null => {
    const el = node instanceof Element ? node : node?.parentElement;
    const seg = el?.closest<HTMLElement>('[data-s]');
    if (!seg || !textEl.contains(seg)) return null;
    const base = Number(seg.dataset.s);
    if (node instanceof Text) return base + cpIndex(node.data, offset);
    return base + (offset > 0 ? Number(seg.dataset.e) - base : 0);
  };
  textEl.addEventListener('mouseup', () => {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || sel.rangeCount === 0) {
      mouseSel = null;
      return;
    }
    const r = sel.getRangeAt(0);
    const a = pointOf(r.startContainer, r.startOffset);
    const b = pointOf(r.endContainer, r.endOffset);
    if (a === null || b === null) return;
    let start = Math.min(a, b);
    let end = Math.max(a, b);
    while (start < end && /\s/.test(chars[start] ?? '')) start++;
    while (end > start && /\s/.test(chars[end - 1] ?? '')) end--;
    mouseSel = end > start ? { start, end } : null;
    anchor = null;
    if (mouseSel) ctx.announce(`Selected "${chars.slice(start, end).join('')}": press a label's number`);
    root.focus({ preventScroll: true });
  });

  function sync(): void {
    const all = spans();
    const sel = mouseSel ? null : selection();
    const bounds = new Set<number>([0, chars.length]);
    for (const [s, e] of tokens) bounds.add(s).add(e);
    for (const s of all) bounds.add(s.start).add(s.end);
    const points = [...bounds].filter((p) => p >= 0 && p <= chars.length).sort((a, b) => a - b);
    const segs: HTMLElement[] = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const s = points[i]!;
      const e = points[i + 1]!;
      const covering = all.filter((sp) => sp.start <= s && e <= sp.end);
      const seg = h('span', { 'data-s': s, 'data-e': e }, chars.slice(s, e).join(''));
      if (covering.length) {
        const top = covering[covering.length - 1]!;
        seg.classList.add('ent', `lab-${Math.max(0, labels.indexOf(top.label)) % 10}`);
        if (covering.length > 1) seg.classList.add('ent-overlap');
        seg.title = covering.map((c) => c.label).join(', ');
      }
      if (sel && root.contains(document.activeElement) && sel.start <= s && e <= sel.end && /\S/.test(chars.slice(s, e).join(''))) {
        seg.classList.add('cursor');
      }
      segs.push(seg);
    }
    replaceChildren(textEl, segs);
    replaceChildren(
      list,
      all.map((s, i) => {
        const del = h('button', { type: 'button', class: 'link-button', tabindex: -1, 'aria-label': 'Delete span' }, '×');
        del.addEventListener('click', () => remove(i));
        return h(
          'li',
          { class: 'span-item', 'data-testid': 'span-item', 'data-label': s.label, 'data-start': s.start, 'data-end': s.end },
          h('span', { class: `label-chip lab-${Math.max(0, labels.indexOf(s.label)) % 10}` }, s.label),
          ' ',
          h('q', null, chars.slice(s.start, s.end).join('')),
          ' ',
          del,
        );
      }),
    );
  }
  root.addEventListener('focus', () => sync());
  root.addEventListener('blur', () => sync());
  sync();

  const move = (delta: number, extend: boolean): void => {
    if (!tokens.length) return;
    mouseSel = null;
    if (extend && anchor === null) anchor = cursor;
    if (!extend) anchor = null;
    cursor = Math.max(0, Math.min(tokens.length - 1, cursor + delta));
    sync();
  };

  return {
    name: field.name,
    el: root,
    onKey(ev) {
      const d = digitOf(ev);
      if (d !== null) return apply(d - 1);
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        move(ev.key === 'ArrowRight' ? 1 : -1, ev.shiftKey);
        return true;
      }
      if (ev.key === 'Home' || ev.key === 'End') {
        move(ev.key === 'End' ? tokens.length : -tokens.length, ev.shiftKey);
        return true;
      }
      if (ev.key === 'Delete' || ev.key === 'Backspace') {
        const i = spanAtCursor();
        if (i >= 0) remove(i);
        else ctx.announce('No span under the cursor.');
        return true;
      }
      if (ev.key === 'Escape' && (anchor !== null || mouseSel)) {
        anchor = null;
        mouseSel = null;
        sync();
        return true;
      }
      return false;
    },
    sync,
    focus: () => root.focus(),
    problem: () => null,
    result: () => spans().map((s) => ({ start: s.start, end: s.end, label: s.label })),
  };
}
