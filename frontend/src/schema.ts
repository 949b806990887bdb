/**
 * Client-side checks for the label-schema JSON textarea.
 *
 * 1. Syntax: strict JSON (RFC 8259). Errors carry a line and column computed here, because
 *    browsers word JSON.parse errors differently and some give no position at all.
 * 2. Structure: basic checks that mirror the server's rules; the server stays authoritative.
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

function isNonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

/** Structural checks on an already-parsed value. Returns [] when it looks valid. */
export function checkSchemaStructure(schema: unknown): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const add = (path: string, message: string): void => {
    if (issues.length < MAX_ISSUES) issues.push({ path, message });
  };

  if (!isPlainObject(schema)) {
    add('', 'must be a JSON object like {"version": 1, "fields": [...]}');
    return issues;
  }

  const version = schema.version;
  if (version === undefined) add('version', 'is required');
  else if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    add('version', 'must be a positive integer');
  }

  if (schema.data !== undefined) {
    if (!isPlainObject(schema.data)) {
      add('data', 'must be an object mapping item keys to {"type": ...}');
    } else {
      for (const [key, spec] of Object.entries(schema.data)) {
        if (!isPlainObject(spec)) add(`data.${key}`, 'must be an object');
        else if (!isNonEmptyString(spec.type)) add(`data.${key}.type`, 'must be a non-empty string');
      }
    }
  }

  const fields = schema.fields;
  if (fields === undefined) {
    add('fields', 'is required');
  } else if (!Array.isArray(fields) || fields.length === 0) {
    add('fields', 'must be a non-empty list');
  } else {
    const seen = new Set<string>();
    fields.forEach((field: unknown, idx: number) => {
      const p = `fields[${idx}]`;
      if (!isPlainObject(field)) {
        add(p, 'must be an object');
        return;
      }
      if (!isNonEmptyString(field.name)) {
        add(`${p}.name`, 'must be a non-empty string');
      } else if (seen.has(field.name)) {
        add(`${p}.name`, `duplicate field name "${field.name}"`);
      } else {
        seen.add(field.name);
      }
      if (!isNonEmptyString(field.type)) add(`${p}.type`, 'must be a non-empty string');
      if (field.type === 'choices' || field.choices !== undefined) {
        const choices = field.choices;
        const ok =
          Array.isArray(choices) &&
          choices.length > 0 &&
          choices.every(isNonEmptyString) &&
          new Set(choices).size === choices.length;
        if (!ok) add(`${p}.choices`, 'must be a non-empty list of unique strings');
      }
      for (const flag of ['multiple', 'required'] as const) {
        if (field[flag] !== undefined && typeof field[flag] !== 'boolean') {
          add(`${p}.${flag}`, 'must be true or false');
        }
      }
    });
  }
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
