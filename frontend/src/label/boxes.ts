/**
 * Bounding boxes on an image, as fractions of its width and height.
 *
 * Mouse: drag on the image to draw, drag a box to move it, drag its corner to resize, click to
 * select; wheel zooms, drag with Shift (or the middle button) pans.
 * Keyboard: N new box, Tab-less cycling with , and . , arrows move (Shift+arrows resize) the
 * selected box (or pan when none is), number keys label it, Delete removes it, + and - zoom,
 * Z resets the view, Esc deselects.
 */

import { h, replaceChildren } from '../dom';
import { digitOf, fieldTitle, keyHint, stringList, type FieldContext, type FieldWidget } from './types';

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  label: string;
}

const MIN = 0.005;
const STEP = 0.01;

export function clampBox(b: Box): Box {
  const w = Math.min(1, Math.max(MIN, b.w));
  const hh = Math.min(1, Math.max(MIN, b.h));
  const x = Math.min(1 - w, Math.max(0, b.x));
  const y = Math.min(1 - hh, Math.max(0, b.y));
  const r = (v: number): number => Math.round(v * 1e6) / 1e6;
  return { x: r(x), y: r(y), w: r(w), h: r(hh), label: b.label };
}

export function readBoxes(v: unknown): Box[] {
  if (!Array.isArray(v)) return [];
  return v.filter((b): b is Box => typeof b === 'object' && b !== null && typeof (b as Box).x === 'number');
}

export function boxesWidget(ctx: FieldContext): FieldWidget {
  const { field, state } = ctx;
  const labels = stringList(field.labels);
  let current = 0; // label for new boxes
  let selected = -1;
  let zoom = 1;
  let pan = { x: 0, y: 0 };
  const url = ctx.mediaUrl(String(field.source ?? ''));

  const legend = h('div', { class: 'label-legend', role: 'group', 'aria-label': 'Labels' });
  const chips = labels.map((label, i) => {
    const b = h('button', { type: 'button', class: `label-chip lab-${i % 10}`, tabindex: -1, 'data-label': label }, h('kbd', null, keyHint(i)), ' ', label);
    b.addEventListener('click', () => {
      setLabel(i);
      root.focus();
    });
    legend.appendChild(b);
    return b;
  });
  const img = h('img', { class: 'box-image', alt: 'Item image', draggable: 'false', 'data-testid': `image-${field.name}` });
  const layer = h('div', { class: 'box-layer' });
  const canvas = h('div', { class: 'box-canvas' }, img, layer);
  const stage = h('div', { class: 'box-stage', 'data-testid': `stage-${field.name}` }, canvas);
  const status = h('p', { class: 'muted box-status' });
  const root = h(
    'section',
    {
      class: 'label-field label-boxes',
      tabindex: 0,
      'data-testid': `field-${field.name}`,
      'data-field-type': 'boxes',
      'aria-label': `${fieldTitle(field)}: N new box, arrows move, Shift+arrows resize, number keys label, Delete removes`,
    },
    h('h2', { class: 'field-title' }, fieldTitle(field)),
    h('p', { class: 'field-hint' }, 'Drag to draw · N new box · , . select · arrows move (Shift: resize) · number: label · Delete · + − zoom · Z reset · Shift+drag pans'),
    legend,
    stage,
    status,
  );
  // Fit the image to the stage (up or down) once its size is known; the canvas is exactly the
  // image's size so that box fractions map onto it.
  const fit = (): void => {
    const nw = img.naturalWidth;
    const nh = img.naturalHeight;
    if (!nw || !nh) return;
    const maxW = stage.clientWidth || nw;
    const maxH = Math.max(240, Math.round((typeof window !== 'undefined' ? window.innerHeight : 800) * 0.6));
    const scale = Math.min(maxW / nw, maxH / nh);
    img.style.width = `${Math.floor(nw * scale)}px`;
    img.style.height = `${Math.floor(nh * scale)}px`;
  };
  img.addEventListener('load', fit);
  if (url) img.src = url;
  else replaceChildren(stage, h('p', { class: 'error-box' }, 'This item has no image.'));
  img.addEventListener('error', () => replaceChildren(stage, h('p', { class: 'error-box', role: 'alert' }, 'The image could not be loaded.')));

  const boxes = (): Box[] => readBoxes(state.get(field.name));
  const write = (all: Box[]): void => state.set(field.name, all.map(clampBox));

  const setLabel = (i: number): boolean => {
    const label = labels[i];
    if (label === undefined) return false;
    current = i;
    const all = boxes();
    const b = all[selected];
    if (b) {
      all[selected] = { ...b, label };
      write(all);
      ctx.announce(`Box ${selected + 1} is now ${label}`);
    } else {
      ctx.announce(`New boxes: ${label}`);
      sync();
    }
    return true;
  };

  const applyView = (): void => {
    canvas.style.transform = `translate(${pan.x}px, ${pan.y}px) scale(${zoom})`;
  };
  const zoomBy = (factor: number, cx?: number, cy?: number): void => {
    const rect = stage.getBoundingClientRect();
    // Around a point given in stage coordinates, made relative to the canvas's own origin.
    const px = (cx ?? rect.width / 2) - canvas.offsetLeft;
    const py = (cy ?? rect.height / 2) - canvas.offsetTop;
    const next = Math.min(8, Math.max(1, zoom * factor));
    pan = { x: px - ((px - pan.x) * next) / zoom, y: py - ((py - pan.y) * next) / zoom };
    zoom = next;
    if (zoom === 1) pan = { x: 0, y: 0 };
    applyView();
  };

  /** One element per box, updated in place: an element under the pointer must stay in the
   * document (a press on a detached node makes the browser drop the focus). */
  const boxElement = (): HTMLElement => {
    const el = h('div', { class: 'box', 'data-testid': 'box' }, h('span', { class: 'box-tag' }), h('span', { class: 'handle', 'data-handle': 'se' }));
    layer.appendChild(el);
    return el;
  };
  function sync(): void {
    const all = boxes();
    if (selected >= all.length) selected = all.length - 1;
    while (layer.children.length > all.length) layer.lastElementChild!.remove();
    all.forEach((b, i) => {
      const el = (layer.children[i] as HTMLElement | undefined) ?? boxElement();
      el.className = `box lab-${Math.max(0, labels.indexOf(b.label)) % 10}${i === selected ? ' selected' : ''}`;
      el.dataset.index = String(i);
      el.dataset.label = b.label;
      replaceChildren(el.firstElementChild!, `${i + 1} ${b.label}`);
      el.style.left = `${b.x * 100}%`;
      el.style.top = `${b.y * 100}%`;
      el.style.width = `${b.w * 100}%`;
      el.style.height = `${b.h * 100}%`;
    });
    chips.forEach((c, i) => c.classList.toggle('selected', i === current));
    replaceChildren(
      status,
      `${all.length} box${all.length === 1 ? '' : 'es'} · new: ${labels[current] ?? '—'}${selected >= 0 ? ` · selected: box ${selected + 1}` : ''} · zoom ${Math.round(zoom * 100)}%`,
    );
  }

  // Pointer: draw, move, resize, pan.
  type Drag =
    | { kind: 'draw'; x0: number; y0: number; index: number }
    | { kind: 'move'; index: number; dx: number; dy: number }
    | { kind: 'resize'; index: number }
    | { kind: 'pan'; sx: number; sy: number; px: number; py: number };
  let drag: Drag | null = null;
  const frac = (ev: PointerEvent): { x: number; y: number } => {
    const r = canvas.getBoundingClientRect();
    return {
      x: Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)),
      y: Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height)),
    };
  };
  stage.addEventListener('pointerdown', (ev) => {
    if (!url) return;
    root.focus({ preventScroll: true });
    if (ev.button === 1 || ev.shiftKey) {
      drag = { kind: 'pan', sx: ev.clientX, sy: ev.clientY, px: pan.x, py: pan.y };
    } else if (ev.button === 0) {
      const target = ev.target instanceof Element ? ev.target : null;
      const boxEl = target?.closest<HTMLElement>('.box');
      const p = frac(ev);
      if (boxEl) {
        const i = Number(boxEl.dataset.index);
        selected = i;
        const b = boxes()[i]!;
        drag = target?.classList.contains('handle') ? { kind: 'resize', index: i } : { kind: 'move', index: i, dx: p.x - b.x, dy: p.y - b.y };
        sync();
      } else {
        const all = boxes();
        all.push({ x: p.x, y: p.y, w: MIN, h: MIN, label: labels[current] ?? '' });
        selected = all.length - 1;
        write(all);
        drag = { kind: 'draw', x0: p.x, y0: p.y, index: selected };
      }
    } else {
      return;
    }
    stage.setPointerCapture(ev.pointerId);
    ev.preventDefault();
  });
  stage.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    if (drag.kind === 'pan') {
      pan = { x: drag.px + ev.clientX - drag.sx, y: drag.py + ev.clientY - drag.sy };
      applyView();
      return;
    }
    const p = frac(ev);
    const all = boxes();
    const b = all[drag.index];
    if (!b) return;
    if (drag.kind === 'draw') {
      all[drag.index] = { ...b, x: Math.min(drag.x0, p.x), y: Math.min(drag.y0, p.y), w: Math.abs(p.x - drag.x0), h: Math.abs(p.y - drag.y0) };
    } else if (drag.kind === 'move') {
      all[drag.index] = { ...b, x: p.x - drag.dx, y: p.y - drag.dy };
    } else {
      all[drag.index] = { ...b, w: p.x - b.x, h: p.y - b.y };
    }
    // One undo step per drag: coalesce the moves of this gesture.
    state.set(field.name, all.map(clampBox), `drag:${field.name}:${drag.index}`);
  });
  const endDrag = (): void => {
    if (drag?.kind === 'draw') {
      const b = boxes()[drag.index];
      if (b && (b.w < 0.01 || b.h < 0.01)) {
        // A click, not a drag: no box.
        const all = boxes();
        all.splice(drag.index, 1);
        selected = -1;
        write(all);
      } else {
        ctx.announce(`Drew box ${drag.index + 1} (${b?.label ?? ''})`);
      }
    }
    drag = null;
  };
  // Keep the focus on this field (number keys then label the box) and the page from starting
  // a text selection or an image drag.
  stage.addEventListener('mousedown', (ev) => {
    ev.preventDefault();
    root.focus({ preventScroll: true });
  });
  stage.addEventListener('pointerup', () => {
    endDrag();
    root.focus({ preventScroll: true });
  });
  stage.addEventListener('pointercancel', endDrag);
  stage.addEventListener(
    'wheel',
    (ev) => {
      ev.preventDefault();
      const r = stage.getBoundingClientRect();
      zoomBy(ev.deltaY < 0 ? 1.2 : 1 / 1.2, ev.clientX - r.left, ev.clientY - r.top);
      sync();
    },
    { passive: false },
  );

  sync();

  const nudge = (dx: number, dy: number, resize: boolean): void => {
    const all = boxes();
    const b = all[selected];
    if (!b) {
      pan = { x: pan.x - dx * 2000, y: pan.y - dy * 2000 };
      applyView();
      return;
    }
    all[selected] = resize ? { ...b, w: b.w + dx, h: b.h + dy } : { ...b, x: b.x + dx, y: b.y + dy };
    state.set(field.name, all.map(clampBox), `nudge:${field.name}:${selected}:${resize}`);
  };

  return {
    name: field.name,
    el: root,
    onKey(ev) {
      const d = digitOf(ev);
      if (d !== null) return setLabel(d - 1);
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
      const step = STEP;
      switch (ev.key) {
        case 'n':
        case 'N': {
          const all = boxes();
          all.push({ x: 0.4, y: 0.4, w: 0.2, h: 0.2, label: labels[current] ?? '' });
          selected = all.length - 1;
          write(all);
          ctx.announce(`New box ${selected + 1} (${labels[current] ?? ''}) in the middle: arrows move it, Shift+arrows resize it`);
          return true;
        }
        case '.':
        case ',': {
          const n = boxes().length;
          if (!n) return true;
          selected = ev.key === '.' ? (selected + 1) % n : (selected - 1 + n) % n;
          sync();
          ctx.announce(`Box ${selected + 1} selected`);
          return true;
        }
        case 'ArrowLeft':
          nudge(-step, 0, ev.shiftKey);
          return true;
        case 'ArrowRight':
          nudge(step, 0, ev.shiftKey);
          return true;
        case 'ArrowUp':
          nudge(0, -step, ev.shiftKey);
          return true;
        case 'ArrowDown':
          nudge(0, step, ev.shiftKey);
          return true;
        case 'Delete':
        case 'Backspace': {
          const all = boxes();
          if (selected < 0 || !all[selected]) return true;
          all.splice(selected, 1);
          ctx.announce(`Removed box ${selected + 1}`);
          selected = Math.min(selected, all.length - 1);
          write(all);
          return true;
        }
        case '+':
        case '=':
          zoomBy(1.25);
          sync();
          return true;
        case '-':
        case '_':
          zoomBy(1 / 1.25);
          sync();
          return true;
        case 'z':
        case 'Z':
          zoom = 1;
          pan = { x: 0, y: 0 };
          applyView();
          sync();
          return true;
        case 'Escape':
          if (selected < 0) return false;
          selected = -1;
          sync();
          return true;
      }
      return false;
    },
    sync,
    focus: () => root.focus(),
    problem: () => null,
    result: () => boxes().map((b) => ({ x: b.x, y: b.y, w: b.w, h: b.h, label: b.label })),
  };
}
