/** Choices (single and multiple), a rating scale, and free text. */

import { h, replaceChildren } from '../dom';
import { digitOf, fieldTitle, keyHint, stringList, type FieldContext, type FieldWidget } from './types';

function fieldShell(
  ctx: FieldContext,
  kind: string,
  hint: string,
  focusable = true,
): { root: HTMLElement; body: HTMLElement } {
  const id = `field-${ctx.index}`;
  const body = h('div', { class: 'field-body' });
  const root = h(
    'section',
    {
      class: `label-field label-${kind}`,
      tabindex: focusable ? 0 : -1,
      'data-testid': `field-${ctx.field.name}`,
      'data-field-type': kind,
      'aria-labelledby': `${id}-title`,
    },
    h(
      'h2',
      { class: 'field-title', id: `${id}-title` },
      fieldTitle(ctx.field),
      ctx.field.required === false ? h('span', { class: 'optional' }, ' (optional)') : null,
    ),
    h('p', { class: 'field-hint' }, hint),
    body,
  );
  return { root, body };
}

export function choicesWidget(ctx: FieldContext): FieldWidget {
  const { field, state } = ctx;
  const choices = stringList(field.choices);
  const multiple = field.multiple === true;
  const { root, body } = fieldShell(
    ctx,
    'choices',
    multiple ? 'Number keys toggle choices; pick any number of them.' : 'Press a number key to choose.',
  );
  const group = h('div', { class: 'choice-list', role: multiple ? 'group' : 'radiogroup' });
  body.appendChild(group);
  const buttons = choices.map((choice, i) => {
    const b = h(
      'button',
      { type: 'button', class: 'choice', tabindex: -1, 'data-choice': choice, role: multiple ? 'checkbox' : 'radio' },
      h('kbd', null, keyHint(i)),
      ' ',
      choice,
    );
    b.addEventListener('click', () => {
      pick(i);
      root.focus();
    });
    group.appendChild(b);
    return b;
  });

  const current = (): string[] => {
    const v = state.get(field.name);
    return multiple ? stringList(v) : typeof v === 'string' ? [v] : [];
  };

  const pick = (i: number): boolean => {
    const choice = choices[i];
    if (choice === undefined) return false;
    if (multiple) {
      const cur = current();
      const next = cur.includes(choice) ? cur.filter((c) => c !== choice) : [...cur, choice];
      state.set(field.name, choices.filter((c) => next.includes(c)));
      ctx.announce(`${fieldTitle(field)}: ${cur.includes(choice) ? 'removed' : 'added'} ${choice}`);
    } else {
      state.set(field.name, choice);
      ctx.announce(`${fieldTitle(field)}: ${choice}`);
    }
    return true;
  };

  const sync = (): void => {
    const cur = current();
    buttons.forEach((b, i) => {
      const on = cur.includes(choices[i] ?? '');
      b.classList.toggle('selected', on);
      b.setAttribute('aria-checked', on ? 'true' : 'false');
    });
  };
  sync();

  return {
    name: field.name,
    el: root,
    onKey(ev) {
      const d = digitOf(ev);
      if (d !== null) return pick(d - 1);
      if ((ev.key === 'Delete' || ev.key === 'Backspace') && current().length) {
        state.set(field.name, multiple ? [] : null);
        return true;
      }
      return false;
    },
    sync,
    focus: () => root.focus(),
    problem() {
      if (field.required === false) return null;
      return multiple || current().length ? null : `Choose a ${fieldTitle(field)}.`;
    },
    result() {
      const v = state.get(field.name);
      if (multiple) return stringList(v);
      return typeof v === 'string' ? v : undefined;
    },
  };
}

export function ratingWidget(ctx: FieldContext): FieldWidget {
  const { field, state } = ctx;
  const min = typeof field.min === 'number' ? field.min : 1;
  const max = typeof field.max === 'number' ? field.max : 5;
  const { root, body } = fieldShell(ctx, 'rating', `Press ${min}–${Math.min(max, 9)} to rate.`);
  const scale = h('div', { class: 'rating-scale', role: 'radiogroup' });
  body.appendChild(scale);
  const buttons: HTMLButtonElement[] = [];
  for (let v = min; v <= max; v++) {
    const b = h('button', { type: 'button', class: 'rating', tabindex: -1, role: 'radio', 'data-value': v }, String(v));
    b.addEventListener('click', () => {
      set(v);
      root.focus();
    });
    scale.appendChild(b);
    buttons.push(b);
  }
  const set = (v: number): boolean => {
    if (v < min || v > max) return false;
    state.set(field.name, v);
    ctx.announce(`${fieldTitle(field)}: ${v}`);
    return true;
  };
  const sync = (): void => {
    const cur = state.get(field.name);
    buttons.forEach((b, i) => {
      const on = cur === min + i;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-checked', on ? 'true' : 'false');
    });
  };
  sync();
  return {
    name: field.name,
    el: root,
    onKey(ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey || !/^[0-9]$/.test(ev.key)) return false;
      return set(Number(ev.key));
    },
    sync,
    focus: () => root.focus(),
    problem() {
      return field.required === false || typeof state.get(field.name) === 'number' ? null : `Rate ${fieldTitle(field)}.`;
    },
    result() {
      const v = state.get(field.name);
      return typeof v === 'number' ? v : undefined;
    },
  };
}

export function textWidget(ctx: FieldContext): FieldWidget {
  const { field, state } = ctx;
  const maxLength = typeof field.max_length === 'number' ? field.max_length : 10000;
  // The box itself takes focus (Tab lands in it): no stop on the field around it.
  const { root, body } = fieldShell(ctx, 'text', 'Type your answer. Ctrl+Enter submits; Tab moves on.', false);
  const id = `field-${ctx.index}-text`;
  const area = h('textarea', {
    id,
    class: 'answer-text',
    rows: 3,
    maxlength: maxLength,
    'aria-label': fieldTitle(field),
    'data-testid': `text-${field.name}`,
  });
  const counter = h('span', { class: 'muted counter' });
  body.append(area, counter);
  area.addEventListener('input', () => {
    state.set(field.name, area.value, `text:${field.name}`);
  });
  const sync = (): void => {
    const v = typeof state.get(field.name) === 'string' ? (state.get(field.name) as string) : '';
    if (area.value !== v) area.value = v;
    replaceChildren(counter, `${v.length} / ${maxLength}`);
  };
  sync();
  return {
    name: field.name,
    el: root,
    onKey(ev) {
      // Focus on the field itself (not the box): Enter-less typing goes into the box.
      if (ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey && !/^[0-9?s]$/.test(ev.key)) {
        area.focus();
        return false;
      }
      if (ev.key === 'ArrowDown' || ev.key === 'i') {
        area.focus();
        return true;
      }
      return false;
    },
    sync,
    focus: () => area.focus(),
    problem() {
      const v = state.get(field.name);
      return field.required !== false && !(typeof v === 'string' && v.trim()) ? `Write ${fieldTitle(field)}.` : null;
    },
    result() {
      const v = state.get(field.name);
      return typeof v === 'string' ? v : field.required === false ? undefined : '';
    },
  };
}
