/**
 * Pairwise (or n-way) comparison of model responses. The responses are shown in a random
 * left-to-right order chosen once per item and recorded as `shown_order`; picks are stored as
 * indexes of the source list, never as screen sides. Model names are never shown: only the
 * responses' text, as "Response A", "Response B", ...
 *
 * Keyboard: in the overall block and in each criterion block, number keys pick the response in
 * that screen position, 0 picks a tie (when allowed); Tab moves between blocks and the rationale.
 */

import { h, replaceChildren } from '../dom';
import { digitOf, fieldTitle, stringList, type FieldContext, type FieldWidget } from './types';

export interface ComparisonValue {
  preferred: number | 'tie' | null;
  criteria: Record<string, number | 'tie'>;
  rationale: string;
  shown_order: number[];
}

/** A uniformly random permutation of 0..n-1 (crypto-quality randomness). */
export function randomOrder(n: number, random: () => number = cryptoRandom): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function cryptoRandom(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0]! / 2 ** 32;
}

export const SIDE_NAMES = 'ABCDEFGHIJKLMNOPQRST';

export function initialComparison(n: number, random?: () => number): ComparisonValue {
  return { preferred: null, criteria: {}, rationale: '', shown_order: randomOrder(n, random) };
}

export function comparisonWidget(ctx: FieldContext): FieldWidget {
  const { field, state } = ctx;
  const responses = stringList(ctx.data[String(field.source ?? '')]);
  const criteria = stringList(field.criteria);
  const allowTie = field.allow_tie === true;
  const rationaleMode = typeof field.rationale === 'string' ? field.rationale : 'optional';

  const value = (): ComparisonValue => {
    const v = state.get(field.name) as Partial<ComparisonValue> | undefined;
    return {
      preferred: v?.preferred ?? null,
      criteria: { ...(v?.criteria ?? {}) },
      rationale: typeof v?.rationale === 'string' ? v.rationale : '',
      shown_order: Array.isArray(v?.shown_order) ? v.shown_order : responses.map((_, i) => i),
    };
  };
  const order = value().shown_order;

  // The responses in the order shown (filled by sync(), which also marks the preferred one).
  const cards = h('div', { class: 'compare-cards', 'data-testid': `responses-${field.name}` });

  const pickLabel = (pick: number | 'tie' | null | undefined): string => {
    if (pick === 'tie') return 'Tie';
    if (typeof pick !== 'number') return 'not chosen';
    const pos = order.indexOf(pick);
    return `Response ${SIDE_NAMES[pos] ?? pos + 1}`;
  };

  interface Block {
    key: string | null; // null: overall preference
    el: HTMLElement;
    buttons: HTMLButtonElement[];
    tie: HTMLButtonElement | null;
  }
  const makeBlock = (key: string | null): Block => {
    const title = key === null ? 'Which response is better?' : `Better on ${key}?`;
    const buttons = order.map((_, pos) => {
      const b = h('button', { type: 'button', class: 'choice', tabindex: -1 }, h('kbd', null, String(pos + 1)), ` Response ${SIDE_NAMES[pos] ?? pos + 1}`);
      b.addEventListener('click', () => {
        pick(key, pos);
        el.focus();
      });
      return b;
    });
    const tie = allowTie ? h('button', { type: 'button', class: 'choice', tabindex: -1 }, h('kbd', null, '0'), ' Tie') : null;
    tie?.addEventListener('click', () => {
      pick(key, 'tie');
      el.focus();
    });
    const el = h(
      'div',
      {
        class: 'compare-block',
        tabindex: 0,
        'data-testid': key === null ? `compare-overall-${field.name}` : `compare-criterion-${key}`,
        'data-criterion': key ?? '',
        'aria-label': `${title} Press 1 to ${order.length}${allowTie ? ', 0 for a tie' : ''}.`,
      },
      h('h3', null, title),
      h('div', { class: 'choice-list' }, buttons, tie),
    );
    return { key, el, buttons, tie };
  };
  const blocks = [makeBlock(null), ...criteria.map((c) => makeBlock(c))];

  const pick = (key: string | null, pos: number | 'tie'): boolean => {
    if (pos === 'tie' && !allowTie) return false;
    const source = pos === 'tie' ? 'tie' : order[pos];
    if (source === undefined) return false;
    const v = value();
    if (key === null) v.preferred = source;
    else v.criteria[key] = source;
    state.set(field.name, v);
    ctx.announce(`${key === null ? 'Better' : key}: ${pickLabel(source)}`);
    return true;
  };

  const rationale =
    rationaleMode === 'none'
      ? null
      : h('textarea', {
          class: 'answer-text',
          rows: 2,
          maxlength: 10000,
          'aria-label': `Rationale${rationaleMode === 'required' ? ' (required)' : ' (optional)'}`,
          placeholder: `Why? ${rationaleMode === 'required' ? '(required)' : '(optional)'}`,
          'data-testid': `rationale-${field.name}`,
        });
  rationale?.addEventListener('input', () => {
    const v = value();
    v.rationale = rationale.value;
    state.set(field.name, v, `rationale:${field.name}`);
  });

  const root = h(
    'section',
    { class: 'label-field label-comparison', tabindex: -1, 'data-testid': `field-${field.name}`, 'data-field-type': 'comparison' },
    h('h2', { class: 'field-title' }, fieldTitle(field)),
    h('p', { class: 'field-hint' }, `Number keys pick a response by its position${allowTie ? ', 0 a tie' : ''}. Tab moves to the next question.`),
    cards,
    blocks.map((b) => b.el),
    rationale ? h('label', { class: 'rationale' }, rationale) : null,
  );

  const sync = (): void => {
    const v = value();
    for (const b of blocks) {
      const chosen = b.key === null ? v.preferred : v.criteria[b.key];
      b.buttons.forEach((btn, pos) => btn.classList.toggle('selected', chosen === order[pos]));
      b.tie?.classList.toggle('selected', chosen === 'tie');
    }
    if (rationale && rationale.value !== v.rationale) rationale.value = v.rationale;
    replaceChildren(cards);
    order.forEach((source, pos) =>
      cards.appendChild(
        h(
          'article',
          { class: `compare-card${v.preferred === source ? ' preferred' : ''}`, 'data-testid': 'response', 'data-position': pos },
          h('h3', null, h('kbd', null, String(pos + 1)), ` Response ${SIDE_NAMES[pos] ?? pos + 1}`),
          h('div', { class: 'prewrap response-text' }, responses[source] ?? ''),
        ),
      ),
    );
  };
  sync();

  return {
    name: field.name,
    el: root,
    onKey(ev) {
      const active = blocks.find((b) => b.el.contains(document.activeElement));
      if (!active) return false;
      if (ev.key === '0' && !ev.ctrlKey && !ev.metaKey && !ev.altKey) return pick(active.key, 'tie') || true;
      const d = digitOf(ev);
      if (d !== null) return pick(active.key, d - 1) || true;
      return false;
    },
    sync,
    focus: () => blocks[0]!.el.focus(),
    problem() {
      const v = value();
      if (field.required === false && v.preferred === null) return null;
      if (v.preferred === null) return 'Pick the better response.';
      const missing = criteria.find((c) => v.criteria[c] === undefined);
      if (missing) return `Pick the better response on ${missing}.`;
      if (rationaleMode === 'required' && !v.rationale.trim()) return 'Write a rationale.';
      return null;
    },
    result() {
      const v = value();
      if (v.preferred === null) return undefined;
      const out: Record<string, unknown> = { preferred: v.preferred, shown_order: order };
      if (criteria.length) out.criteria = v.criteria;
      if (rationaleMode !== 'none' && v.rationale.trim()) out.rationale = v.rationale;
      return out;
    },
  };
}
