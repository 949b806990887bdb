/**
 * Client-side checks for the label-schema JSON textarea.
 *
 * 1. Syntax: strict JSON (RFC 8259). Errors carry a line and column computed here, because
 *    browsers word JSON.parse errors differently and some give no position at all.
 * 2. Structure: the server's rules (types, names, choices, sources, unknown keys), mirrored;
 *    the server stays authoritative.
 *
 * Example of a valid schema:
 *   {"version": 1, "data": {"text": {"type": "text"}},
 *    "fields": [{"name": "sentiment", "type": "choices",
 *                "choices": ["positive", "negative", "neutral"],
 *                "multiple": false, "required": true}]}
 */

import type { LabelSchema } from './api';

export interface SchemaIssue {
  /** e.g. "fields[0].choices"; empty for whole-document problems. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

export type SchemaValidation =
  | { ok: true; value: LabelSchema }
  | { ok: false; kind: 'empty' | 'syntax' | 'structure'; issues: SchemaIssue[] };

export interface JsonSyntaxError {
  message: string;
  offset: number;
  line: number;
  column: number;
}

export const EXAMPLE_SCHEMA: LabelSchema = {
  version: 1,
  data: { text: { type: 'text' } },
  fields: [
    {
      name: 'sentiment',
      type: 'choices',
      choices: ['positive', 'negative', 'neutral'],
      multiple: false,
      required: true,
    },
  ],
};

const MAX_ISSUES = 20;

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10 /* \n */) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

class JsonScanError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

function describe(ch: string | undefined): string {
  if (ch === undefined) return 'end of input';
  if (ch === '\n') return 'a line break';
  if (ch === '\t') return 'a tab';
  const code = ch.charCodeAt(0);
  if (code < 0x20) return `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  return `"${ch}"`;
}

const NUMBER_RE = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX4_RE = /^[0-9a-fA-F]{4}$/;

/**
 * Strict JSON scanner used to locate the first syntax error. Returns null if `text` is valid
 * JSON. It does not build values (JSON.parse does that).
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | null {
  let i = 0;
  const s = text;
  // Nesting is walked iteratively-enough for realistic schemas; guard very deep input.
  let depth = 0;
  const MAX_DEPTH = 512;

  const fail = (message: string, at: number = i): never => {
    throw new JsonScanError(message, at);
  };
  const ws = (): void => {
    while (i < s.length) {
      const c = s[i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
      else break;
    }
  };

  const string = (): void => {
    const start = i;
    i++; // opening quote
    for (;;) {
      const c = s[i];
      if (c === undefined) fail('Unterminated string', start);
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = s[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2;
        } else if (e === 'u') {
          if (!HEX4_RE.test(s.slice(i + 2, i + 6))) fail('Invalid \\u escape: expected 4 hex digits');
          i += 6;
        } else {
          fail(`Invalid escape sequence "\\${e ?? ''}"`);
        }
        continue;
      }
      if ((c as string).charCodeAt(0) < 0x20) {
        fail(c === '\n' ? 'Line break inside a string (use \\n)' : `Unescaped ${describe(c)} in string`);
      }
      i++;
    }
  };

  const value = (): void => {
    const c = s[i];
    switch (c) {
      case undefined:
        return fail('Unexpected end of input: expected a value');
      case '{':
        return object();
      case '[':
        return array();
      case '"':
        return string();
      case "'":
        return fail('Strings must use double quotes (")');
      case 't':
      case 'f':
      case 'n': {
        for (const word of ['true', 'false', 'null']) {
          if (s.startsWith(word, i)) {
            i += word.length;
            return;
          }
        }
        const m = /^[A-Za-z_$][\w$]*/.exec(s.slice(i, i + 40));
        return fail(`Unexpected word "${m ? m[0] : c}": expected a value`);
      }
      default: {
        if (c === '-' || (c >= '0' && c <= '9')) {
          const start = i;
          NUMBER_RE.lastIndex = i;
          const m = NUMBER_RE.exec(s);
          if (!m || m[0] === '-') return fail('Invalid number', start);
          i += m[0].length;
          const next = s[i];
          if (next !== undefined && /[0-9.eE+\-]/.test(next)) fail('Invalid number', start);
          return;
        }
        if (/[A-Za-z_$]/.test(c)) {
          const m = /^[A-Za-z_$][\w$]*/.exec(s.slice(i, i + 40));
          return fail(`Unexpected word "${m ? m[0] : c}": expected a value`);
        }
        return fail(`Unexpected ${describe(c)}: expected a value`);
      }
    }
  };

  const enter = (): void => {
    depth++;
    if (depth > MAX_DEPTH) fail('JSON is nested too deeply');
  };

  const object = (): void => {
    enter();
    i++; // {
    ws();
    if (s[i] === '}') {
      i++;
      depth--;
      return;
    }
    for (;;) {
      ws();
      if (s[i] !== '"') {
        if (s[i] === '}') fail('Trailing comma is not allowed');
        if (s[i] === "'") fail('Property names must use double quotes (")');
        fail(`Expected a property name in double quotes, found ${describe(s[i])}`);
      }
      string();
      ws();
      if (s[i] !== ':') fail(`Expected ":" after the property name, found ${describe(s[i])}`);
      i++;
      ws();
      value();
      ws();
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === '}') {
        i++;
        depth--;
        return;
      }
      fail(`Expected "," or "}" after a property value, found ${describe(s[i])}`);
    }
  };

  const array = (): void => {
    enter();
    i++; // [
    ws();
    if (s[i] === ']') {
      i++;
      depth--;
      return;
    }
    for (;;) {
      ws();
      if (s[i] === ']') fail('Trailing comma is not allowed');
      value();
      ws();
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === ']') {
        i++;
        depth--;
        return;
      }
      fail(`Expected "," or "]" after an array item, found ${describe(s[i])}`);
    }
  };

  try {
    ws();
    value();
    ws();
    if (i < s.length) fail(`Unexpected ${describe(s[i])} after the end of the JSON value`);
    return null;
  } catch (err) {
    if (!(err instanceof JsonScanError)) throw err;
    const { line, column } = lineColumn(text, err.offset);
    return { message: err.message, offset: err.offset, line, column };
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

// The server's rules (annotate/label_schema/__init__.py), mirrored so the editor can say what
// is wrong while the manager types; the server stays authoritative and words its errors alike.
const NAME_RE = /^[a-z][a-z0-9_]{0,63}$/;
const DATA_TYPES = ['text', 'image', 'url', 'number', 'json', 'text_list'];
const FIELD_TYPES = ['choices', 'rating', 'text', 'spans', 'boxes', 'comparison'];
const SOURCE_TYPES: Record<string, string> = { spans: 'text', boxes: 'image', comparison: 'text_list' };
const RATIONALE = ['none', 'optional', 'required'];
const MAX_FIELDS = 50;
const MAX_CHOICES = 500;
const MAX_CHOICE_LENGTH = 200;

function checkChoices(field: Record<string, unknown>, p: string, key: string, add: (path: string, m: string) => void): void {
  const choices = field[key];
  if (!Array.isArray(choices) || choices.length === 0 || !choices.every((c) => typeof c === 'string' && c.trim() !== '')) {
    add(`${p}.${key}`, 'must be a non-empty list of non-empty strings');
    return;
  }
  if (choices.length > MAX_CHOICES) add(`${p}.${key}`, `${choices.length} entries exceeds the limit of ${MAX_CHOICES}`);
  if (new Set(choices).size !== choices.length) add(`${p}.${key}`, 'must be unique');
  choices.forEach((c: string, j: number) => {
    if (c.length > MAX_CHOICE_LENGTH) add(`${p}.${key}[${j}]`, `longer than ${MAX_CHOICE_LENGTH} characters`);
  });
}

/** Structural checks on an already-parsed value. Returns [] when it looks valid. */
export function checkSchemaStructure(schema: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const add = (path: string, message: string): void => {
    if (issues.length < MAX_ISSUES) issues.push({ path, message });
  };

  if (!isPlainObject(schema)) {
    add('', 'must be a JSON object like {"version": 1, "data": {...}, "fields": [...]}');
    return issues;
  }
  for (const key of Object.keys(schema).sort()) {
    if (!['version', 'data', 'fields'].includes(key)) add(key, 'unknown key');
  }
  if (schema.version === undefined) add('version', 'is required');
  else if (schema.version !== 1) add('version', 'must be 1');

  const data = schema.data;
  if (!isPlainObject(data) || Object.keys(data).length === 0) {
    add('data', 'must be an object naming at least one item data field, like {"text": {"type": "text"}}');
  } else {
    for (const [name, spec] of Object.entries(data)) {
      const p = `data.${name}`;
      if (!NAME_RE.test(name)) add(p, `name must match ${NAME_RE.source}`);
      if (!isPlainObject(spec)) {
        add(p, 'must be an object like {"type": "text"}');
        continue;
      }
      if (!DATA_TYPES.includes(spec.type as string)) add(`${p}.type`, `must be one of ${DATA_TYPES.join(', ')}`);
      if (spec.required !== undefined && typeof spec.required !== 'boolean') add(`${p}.required`, 'must be true or false');
      const allowed = ['type', 'required'];
      if (spec.type === 'text_list') {
        allowed.push('min_items', 'max_items');
        const low = spec.min_items ?? 2;
        const high = spec.max_items ?? 20;
        if (!isInt(low) || !isInt(high) || !(1 <= low && low <= high && high <= 100)) {
          add(`${p}.min_items/max_items`, 'integers, 1 <= min_items <= max_items <= 100');
        }
      }
      for (const key of Object.keys(spec).sort()) if (!allowed.includes(key)) add(`${p}.${key}`, 'unknown key');
    }
  }

  const fields = schema.fields;
  if (fields === undefined) {
    add('fields', 'is required');
    return issues;
  }
  if (!Array.isArray(fields) || fields.length === 0) {
    add('fields', 'must be a non-empty list of label fields');
    return issues;
  }
  if (fields.length > MAX_FIELDS) {
    add('fields', `${fields.length} fields exceeds the limit of ${MAX_FIELDS}`);
    return issues;
  }
  const seen = new Set<string>();
  fields.forEach((field: unknown, idx: number) => {
    const p = `fields[${idx}]`;
    if (!isPlainObject(field)) {
      add(p, 'must be an object');
      return;
    }
    const name = field.name;
    if (typeof name !== 'string' || !NAME_RE.test(name)) add(`${p}.name`, `must be a string matching ${NAME_RE.source}`);
    else if (seen.has(name)) add(`${p}.name`, `duplicate field name "${name}"`);
    else seen.add(name);
    const kind = field.type;
    if (typeof kind !== 'string' || !FIELD_TYPES.includes(kind)) {
      add(`${p}.type`, `must be one of ${FIELD_TYPES.join(', ')}`);
      return;
    }
    if (field.required !== undefined && typeof field.required !== 'boolean') add(`${p}.required`, 'must be true or false');
    if (field.title !== undefined && typeof field.title !== 'string') add(`${p}.title`, 'must be a string');
    const allowed = ['name', 'type', 'required', 'title'];
    if (kind === 'choices') {
      allowed.push('choices', 'multiple');
      checkChoices(field, p, 'choices', add);
      if (field.multiple !== undefined && typeof field.multiple !== 'boolean') add(`${p}.multiple`, 'must be true or false');
    } else if (kind === 'rating') {
      allowed.push('min', 'max');
      const low = field.min ?? 1;
      const high = field.max ?? 5;
      if (!isInt(low) || !isInt(high)) add(`${p}.min/max`, 'must be integers');
      else if (!(low < high && high <= low + 100)) add(`${p}.max`, 'must be greater than min, by at most 100');
    } else if (kind === 'text') {
      allowed.push('max_length');
      const limit = field.max_length ?? 10_000;
      if (!isInt(limit) || limit < 1 || limit > 100_000) add(`${p}.max_length`, 'must be an integer from 1 to 100000');
    } else if (kind === 'spans' || kind === 'boxes') {
      allowed.push('labels', 'source');
      if (kind === 'spans') allowed.push('allow_overlap');
      checkChoices(field, p, 'labels', add);
      if (kind === 'spans' && field.allow_overlap !== undefined && typeof field.allow_overlap !== 'boolean') {
        add(`${p}.allow_overlap`, 'must be true or false');
      }
    } else if (kind === 'comparison') {
      allowed.push('source', 'criteria', 'allow_tie', 'rationale');
      if (field.criteria !== undefined) checkChoices(field, p, 'criteria', add);
      if (field.allow_tie !== undefined && typeof field.allow_tie !== 'boolean') add(`${p}.allow_tie`, 'must be true or false');
      if (!RATIONALE.includes((field.rationale ?? 'optional') as string)) add(`${p}.rationale`, `must be one of ${RATIONALE.join(', ')}`);
    }
    const wanted = SOURCE_TYPES[kind];
    if (wanted) {
      const spec = isPlainObject(data) && typeof field.source === 'string' ? data[field.source] : undefined;
      if (!isPlainObject(spec) || spec.type !== wanted) add(`${p}.source`, `must name a data field of type ${wanted} (declared in data)`);
    }
    for (const key of Object.keys(field).sort()) {
      if (!allowed.includes(key)) add(`${p}.${key}`, `unknown key for a ${kind} field`);
    }
  });
  return issues;
}

/** Validate the textarea's content: syntax first, then structure. */
export function validateSchemaText(text: string): SchemaValidation {
  if (text.trim() === '') {
    return { ok: false, kind: 'empty', issues: [{ path: '', message: 'A label schema is required.' }] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const located = findJsonSyntaxError(text);
    if (located) {
      return {
        ok: false,
        kind: 'syntax',
        issues: [{ path: '', message: located.message, line: located.line, column: located.column }],
      };
    }
    // Our scanner and the engine disagree; report the engine's message without a position.
    return {
      ok: false,
      kind: 'syntax',
      issues: [{ path: '', message: err instanceof Error ? err.message : 'Invalid JSON' }],
    };
  }
  const issues = checkSchemaStructure(parsed);
  if (issues.length) return { ok: false, kind: 'structure', issues };
  return { ok: true, value: parsed as LabelSchema };
}

/** Human-readable one-line form of an issue. */
export function formatIssue(issue: SchemaIssue): string {
  const where =
    issue.line !== undefined ? `Line ${issue.line}, column ${issue.column ?? 1}: ` : '';
  const path = issue.path ? `${issue.path}: ` : '';
  return `${where}${path}${issue.message}`;
}
