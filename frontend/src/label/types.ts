/** What every labeling control gets and gives. */

import type { LabelField } from '../api';
import type { LabelState } from './state';

export interface FieldContext {
  field: LabelField;
  state: LabelState;
  /** The item's data (free-form JSON from the server: read defensively). */
  data: Record<string, unknown>;
  /** Same-origin URL of an item media file by data field name, or null. */
  mediaUrl(field: string): string | null;
  /** Say something to screen readers and in the status line. */
  announce(message: string): void;
  /** Position of the field on screen (0-based), for its label. */
  index: number;
}

export interface FieldWidget {
  readonly name: string;
  /** Root element; it (or its text box) receives focus when the field is active. */
  readonly el: HTMLElement;
  /** A key pressed while focus is in this field (not in a text box). True when handled. */
  onKey(ev: KeyboardEvent): boolean;
  /** Redraw from the state (after undo/redo or a change). */
  sync(): void;
  focus(): void;
  /** A problem with the current value that blocks submitting, or null. */
  problem(): string | null;
  /** The value to submit for this field (undefined: leave the key out). */
  result(): unknown;
  destroy?(): void;
}

/** Digit of a key event: 1..9, 0 → 10; null otherwise. Ignores modified keys. */
export function digitOf(ev: KeyboardEvent): number | null {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  if (!/^[0-9]$/.test(ev.key)) return null;
  const d = Number(ev.key);
  return d === 0 ? 10 : d;
}

/** "1".."9", "0" for the 10th, "" after that. */
export function keyHint(i: number): string {
  if (i < 9) return String(i + 1);
  if (i === 9) return '0';
  return '';
}

export function fieldTitle(field: LabelField): string {
  return typeof field.title === 'string' && field.title ? field.title : field.name;
}

export function asString(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
