import { afterEach, describe, expect, it } from 'vitest';
import type { LabelField } from '../src/api';
import { boxesWidget, clampBox } from '../src/label/boxes';
import { comparisonWidget, initialComparison, randomOrder } from '../src/label/comparison';
import { displayedData, renderItem } from '../src/label/item';
import { choicesWidget, ratingWidget, textWidget } from '../src/label/simple';
import { cpIndex, spansWidget, tokenize } from '../src/label/spans';
import { LabelState } from '../src/label/state';
import type { FieldContext, FieldWidget } from '../src/label/types';

const mounted: HTMLElement[] = [];
afterEach(() => {
  mounted.splice(0).forEach((el) => el.remove());
});

function key(k: string, opts: KeyboardEventInit = {}): KeyboardEvent {
  return new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true, ...opts });
}

function mount(
  factory: (ctx: FieldContext) => FieldWidget,
  field: LabelField,
  data: Record<string, unknown> = {},
  initial: Record<string, unknown> = {},
): { w: FieldWidget; state: LabelState; said: string[] } {
  const state = new LabelState(initial);
  const said: string[] = [];
  const w = factory({ field, state, data, mediaUrl: (f) => `/media/${f}`, announce: (m) => said.push(m), index: 0 });
  state.onChange(() => w.sync());
  document.body.appendChild(w.el);
  mounted.push(w.el);
  w.focus();
  return { w, state, said };
}

describe('LabelState', () => {
  it('undoes and redoes whole-answer snapshots', () => {
    const s = new LabelState({ a: 1 });
    s.set('a', 2);
    s.set('b', 'x');
    expect(s.undo()).toBe(true);
    expect(s.snapshot()).toEqual({ a: 2 });
    expect(s.undo()).toBe(true);
    expect(s.snapshot()).toEqual({ a: 1 });
    expect(s.undo()).toBe(false);
    s.redo();
    expect(s.snapshot()).toEqual({ a: 2 });
    s.set('a', 3); // a new change drops the redo stack
    expect(s.canRedo).toBe(false);
  });

  it('coalesces a burst of typing into one undo step', () => {
    const s = new LabelState({ t: '' });
    for (const v of ['h', 'he', 'hel']) s.set('t', v, 'text:t');
    s.undo();
    expect(s.get('t')).toBe('');
  });
});

describe('choices', () => {
  const field = { name: 'sentiment', type: 'choices', choices: ['pos', 'neg', 'neu'] };

  it('single: a number key picks, another replaces, Delete clears', () => {
    const { w, state } = mount(choicesWidget, field);
    expect(w.problem()).toMatch(/Choose/);
    expect(w.onKey(key('2'))).toBe(true);
    expect(state.get('sentiment')).toBe('neg');
    w.onKey(key('3'));
    expect(w.result()).toBe('neu');
    expect(w.el.querySelector('.selected')?.textContent).toContain('neu');
    expect(w.onKey(key('9'))).toBe(false); // no 9th choice
    w.onKey(key('Delete'));
    expect(w.result()).toBeUndefined();
  });

  it('multiple: number keys toggle, kept in schema order', () => {
    const { w } = mount(choicesWidget, { ...field, multiple: true }, {}, { sentiment: [] });
    w.onKey(key('3'));
    w.onKey(key('1'));
    expect(w.result()).toEqual(['pos', 'neu']);
    w.onKey(key('3'));
    expect(w.result()).toEqual(['pos']);
    expect(w.problem()).toBeNull();
  });

  it('ignores modified digits (Ctrl+1 is the browser\'s)', () => {
    const { w } = mount(choicesWidget, field);
    expect(w.onKey(key('1', { ctrlKey: true }))).toBe(false);
  });
});

describe('rating and text', () => {
  it('rating takes digits inside min..max', () => {
    const { w } = mount(ratingWidget, { name: 'q', type: 'rating', min: 1, max: 5 });
    expect(w.onKey(key('7'))).toBe(false);
    expect(w.onKey(key('4'))).toBe(true);
    expect(w.result()).toBe(4);
    expect(w.el.querySelector('[aria-checked=true]')?.textContent).toBe('4');
  });

  it('text keeps what is typed, as text; required text must not be blank', () => {
    const { w, state } = mount(textWidget, { name: 'note', type: 'text' }, {}, { note: '' });
    expect(w.problem()).toMatch(/Write/);
    const area = w.el.querySelector('textarea')!;
    area.value = '<b>x</b>';
    area.dispatchEvent(new Event('input'));
    expect(state.get('note')).toBe('<b>x</b>');
    expect(w.el.querySelector('b')).toBeNull();
    expect(w.problem()).toBeNull();
  });
});

describe('spans', () => {
  const text = 'Ada Lovelace met Charles Babbage in London.';
  const field = { name: 'ents', type: 'spans', labels: ['PER', 'ORG', 'LOC'], source: 'text' };

  it('counts code points, not UTF-16 units', () => {
    expect(cpIndex('a😀b', 3)).toBe(2);
    expect(tokenize('😀 hi')).toEqual([
      [0, 1],
      [2, 4],
    ]);
  });

  it('keyboard: select words, label, relabel, refuse an overlap, delete', () => {
    const { w, said } = mount(spansWidget, field, { text }, { ents: [] });
    w.onKey(key('ArrowRight', { shiftKey: true }));
    w.onKey(key('1'));
    expect(w.result()).toEqual([{ start: 0, end: 12, label: 'PER' }]);
    w.onKey(key('2')); // cursor inside that span, no selection: relabel
    expect(w.result()).toEqual([{ start: 0, end: 12, label: 'ORG' }]);
    w.onKey(key('ArrowLeft'));
    w.onKey(key('ArrowRight', { shiftKey: true }));
    w.onKey(key('ArrowRight', { shiftKey: true })); // Ada..met overlaps the span
    w.onKey(key('3'));
    expect(said.at(-1)).toMatch(/Refused/);
    expect((w.result() as unknown[]).length).toBe(1);
    w.onKey(key('Escape'));
    w.onKey(key('End'));
    w.onKey(key('ArrowLeft'));
    w.onKey(key('3'));
    expect(w.result()).toEqual([
      { start: 0, end: 12, label: 'ORG' },
      { start: 36, end: 42, label: 'LOC' },
    ]);
    w.onKey(key('Delete'));
    expect((w.result() as unknown[]).length).toBe(1);
  });

  it('allows overlaps when the schema says so', () => {
    const { w } = mount(spansWidget, { ...field, allow_overlap: true }, { text }, { ents: [] });
    w.onKey(key('ArrowRight', { shiftKey: true }));
    w.onKey(key('1'));
    w.onKey(key('ArrowRight', { shiftKey: true }));
    w.onKey(key('ArrowRight', { shiftKey: true }));
    w.onKey(key('2'));
    expect(w.result()).toEqual([
      { start: 0, end: 12, label: 'PER' },
      { start: 4, end: 24, label: 'ORG' }, // Lovelace met Charles: across the PER span
    ]);
  });

  it('renders the text as text nodes only', () => {
    const { w } = mount(spansWidget, field, { text: '<img src=x onerror=alert(1)> hi' }, { ents: [] });
    expect(w.el.querySelector('img')).toBeNull();
    expect(w.el.querySelector('[data-testid=span-text-ents]')?.textContent).toBe('<img src=x onerror=alert(1)> hi');
  });
});

describe('boxes', () => {
  const field = { name: 'objs', type: 'boxes', labels: ['cat', 'dog'], source: 'image' };

  it('new box, move, resize, label, delete by keyboard; fractions stay inside the image', () => {
    const { w } = mount(boxesWidget, field, { image: 'a.png' }, { objs: [] });
    expect(w.el.querySelector('img')?.getAttribute('src')).toBe('/media/image');
    w.onKey(key('n'));
    w.onKey(key('ArrowLeft'));
    w.onKey(key('ArrowDown', { shiftKey: true }));
    w.onKey(key('2'));
    expect(w.result()).toEqual([{ x: 0.39, y: 0.4, w: 0.2, h: 0.21, label: 'dog' }]);
    w.onKey(key('n')); // new boxes take the last label
    expect((w.result() as Array<{ label: string }>)[1]!.label).toBe('dog');
    expect(w.el.querySelectorAll('[data-testid=box]').length).toBe(2);
    w.onKey(key('Delete'));
    expect((w.result() as unknown[]).length).toBe(1);
    for (let i = 0; i < 80; i++) w.onKey(key('ArrowRight'));
    const [b] = w.result() as Array<{ x: number; w: number }>;
    expect(b!.x + b!.w).toBeLessThanOrEqual(1);
  });

  it('clamps boxes into [0, 1]', () => {
    expect(clampBox({ x: -0.2, y: 0.9, w: 0.5, h: 0.5, label: 'a' })).toEqual({ x: 0, y: 0.5, w: 0.5, h: 0.5, label: 'a' });
  });
});

describe('comparison', () => {
  const field = { name: 'better', type: 'comparison', source: 'responses', criteria: ['accuracy'], allow_tie: true };
  const data = { responses: ['first answer', 'second answer'], models: ['gpt-x', 'claude-y'] };

  it('shuffles with every permutation possible', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(randomOrder(3).join(''));
    expect(seen.size).toBe(6);
  });

  it('records source indexes and the order shown, never screen sides', () => {
    const initial = { better: initialComparison(2, () => 0) }; // order [1, 0]: second shown left
    const { w } = mount(comparisonWidget, field, data, initial);
    const cards = [...w.el.querySelectorAll('[data-testid=response]')].map((c) => c.textContent);
    expect(cards[0]).toContain('second answer');
    expect(w.problem()).toMatch(/better/);
    w.onKey(key('1')); // left = source 1
    const overall = w.el.querySelector<HTMLElement>('[data-criterion=""]')!;
    expect(overall).toBeTruthy();
    expect(w.problem()).toMatch(/accuracy/);
    w.el.querySelector<HTMLElement>('[data-criterion=accuracy]')!.focus();
    w.onKey(key('0'));
    expect(w.result()).toEqual({ preferred: 1, criteria: { accuracy: 'tie' }, shown_order: [1, 0] });
    expect(w.el.textContent).not.toContain('gpt-x');
  });
});

describe('item', () => {
  it('shows data as text and hides lists when comparing (model names)', () => {
    const schema = {
      version: 1,
      data: { prompt: { type: 'text' }, responses: { type: 'text_list' }, models: { type: 'text_list' } },
      fields: [{ name: 'b', type: 'comparison', source: 'responses' }],
    };
    expect(displayedData(schema, { prompt: '<script>x</script>', responses: ['a', 'b'], models: ['m1', 'm2'] })).toEqual([
      ['prompt', '<script>x</script>'],
    ]);
    const view = renderItem({ schema, data: { prompt: '<script>x</script>', responses: ['a', 'b'], models: ['m1'] }, mediaUrl: () => null, announce: () => {} });
    expect(view.el.querySelector('script')).toBeNull();
    expect(view.el.textContent).toContain('<script>x</script>');
    expect(view.el.textContent).not.toContain('m1');
    expect(view.problem()?.message).toMatch(/better/);
  });
});
