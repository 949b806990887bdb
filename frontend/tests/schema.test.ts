import { describe, expect, it } from 'vitest';
import {
  EXAMPLE_SCHEMA,
  checkSchemaStructure,
  findJsonSyntaxError,
  formatIssue,
  lineColumn,
  validateSchemaText,
} from '../src/schema';

const valid = JSON.stringify(EXAMPLE_SCHEMA, null, 2);

describe('validateSchemaText', () => {
  it('accepts the example schema', () => {
    const r = validateSchemaText(valid);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.fields[0]?.name).toBe('sentiment');
  });

  it('requires a value', () => {
    const r = validateSchemaText('   \n ');
    expect(r).toMatchObject({ ok: false, kind: 'empty' });
  });

  it('reports JSON syntax errors with line and column', () => {
    const text = '{\n  "version": 1,\n  "fields": [\n    {"name": "a", "type": "text"},\n  ]\n}';
    const r = validateSchemaText(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.kind).toBe('syntax');
    expect(r.issues[0]).toMatchObject({ line: 5, column: 3 });
    expect(r.issues[0]?.message).toMatch(/Trailing comma/);
    expect(formatIssue(r.issues[0]!)).toMatch(/^Line 5, column 3: /);
  });

  it('reports a missing comma at the right place', () => {
    const r = validateSchemaText('{"version": 1\n "fields": []}');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues[0]).toMatchObject({ line: 2, column: 2 });
      expect(r.issues[0]?.message).toMatch(/Expected "," or "}"/);
    }
  });

  it.each([
    ["{'version': 1}", 1, 2, /double quotes/],
    ['{"a": "unterminated}', 1, 7, /Unterminated string/],
    ['{"a": tru}', 1, 7, /Unexpected word "tru"/],
    ['{"a": 1} x', 1, 10, /after the end/],
    ['{"a": 01}', 1, 7, /Invalid number/],
    ['{"a": "\\x"}', 1, 8, /Invalid escape/],
    ['{"a": \n', 2, 1, /end of input/],
    ['[1, 2,]', 1, 7, /Trailing comma/],
    ['{"a": "line\nbreak"}', 1, 12, /Line break/],
  ])('%j → line %i column %i', (text, line, column, message) => {
    const err = findJsonSyntaxError(text);
    expect(err).not.toBeNull();
    expect(err).toMatchObject({ line, column });
    expect(err?.message).toMatch(message);
  });

  it('agrees with JSON.parse on what is valid', () => {
    const samples = [
      '{}',
      '[]',
      '"x"',
      '-0.5e+10',
      'null',
      ' {"a": [1, true, false, null, {"b": "\\u00e9\\n"}]} ',
      '{"a":1,}',
      '[,]',
      '{"a" 1}',
      '1.',
      '.5',
      '-',
      '+1',
      'NaN',
      '{"a": undefined}',
      '"\t"',
      '{"a":1}}',
      '[1 2]',
    ];
    for (const s of samples) {
      let parses = true;
      try {
        JSON.parse(s);
      } catch {
        parses = false;
      }
      expect(findJsonSyntaxError(s) === null, s).toBe(parses);
    }
  });

  it('reports structural problems with paths like the server', () => {
    const r = validateSchemaText(
      JSON.stringify({
        version: 1,
        fields: [
          { name: 'a', type: 'choices', choices: [] },
          { name: 'a', type: 'choices', choices: ['x', 'x'], multiple: 'no' },
          { type: 'text' },
        ],
      }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.kind).toBe('structure');
    expect(r.issues.map(formatIssue)).toEqual([
      'fields[0].choices: must be a non-empty list of unique strings',
      'fields[1].name: duplicate field name "a"',
      'fields[1].choices: must be a non-empty list of unique strings',
      'fields[1].multiple: must be true or false',
      'fields[2].name: must be a non-empty string',
    ]);
  });

  it('checks the top level', () => {
    expect(checkSchemaStructure([])).toEqual([{ path: '', message: expect.stringMatching(/JSON object/) }]);
    expect(checkSchemaStructure({}).map((i) => i.path)).toEqual(['version', 'fields']);
    expect(checkSchemaStructure({ version: 0, fields: [] }).map(formatIssue)).toEqual([
      'version: must be a positive integer',
      'fields: must be a non-empty list',
    ]);
    expect(checkSchemaStructure({ version: 1, data: { text: {} }, fields: [{ name: 'x', type: 'text' }] })).toEqual([
      { path: 'data.text.type', message: 'must be a non-empty string' },
    ]);
  });
});

describe('lineColumn', () => {
  it('is 1-based', () => {
    expect(lineColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
