/**
 * The answer being built for one item: one value per label field, with undo and redo.
 *
 * Every change is a snapshot of the whole answer (answers are small), so undo restores
 * exactly what the annotator saw. Typing in a text box is coalesced into one step per burst.
 */

export type Values = Record<string, unknown>;

const COALESCE_MS = 1200;
const MAX_HISTORY = 200;

export class LabelState {
  private values: Values;
  private past: string[] = [];
  private future: string[] = [];
  private lastCoalesce: { key: string; at: number } | null = null;
  private listeners = new Set<(source: string | null) => void>();

  constructor(initial: Values) {
    this.values = structuredClone(initial);
  }

  get(name: string): unknown {
    return this.values[name];
  }

  snapshot(): Values {
    return structuredClone(this.values);
  }

  /**
   * Set one field's value. `coalesce` (e.g. "text:note") merges consecutive changes with the
   * same key made within a short time into one undo step.
   */
  set(name: string, value: unknown, coalesce?: string): void {
    const now = Date.now();
    const merge =
      coalesce !== undefined &&
      this.lastCoalesce !== null &&
      this.lastCoalesce.key === coalesce &&
      now - this.lastCoalesce.at < COALESCE_MS;
    if (!merge) {
      this.past.push(JSON.stringify(this.values));
      if (this.past.length > MAX_HISTORY) this.past.shift();
    }
    this.lastCoalesce = coalesce === undefined ? null : { key: coalesce, at: now };
    this.future = [];
    this.values = { ...this.values, [name]: structuredClone(value) };
    this.emit(name);
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }

  undo(): boolean {
    const prev = this.past.pop();
    if (prev === undefined) return false;
    this.future.push(JSON.stringify(this.values));
    this.values = JSON.parse(prev) as Values;
    this.lastCoalesce = null;
    this.emit(null);
    return true;
  }

  redo(): boolean {
    const next = this.future.pop();
    if (next === undefined) return false;
    this.past.push(JSON.stringify(this.values));
    this.values = JSON.parse(next) as Values;
    this.lastCoalesce = null;
    this.emit(null);
    return true;
  }

  /** `source`: the field that changed, or null after undo/redo (everything may have). */
  onChange(listener: (source: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(source: string | null): void {
    for (const l of [...this.listeners]) l(source);
  }
}
