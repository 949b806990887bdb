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
        data: { text: { type: 'text' } },
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
      'fields[0].choices: must be a non-empty list of non-empty strings',
      'fields[1].name: duplicate field name "a"',
      'fields[1].choices: must be unique',
      'fields[1].multiple: must be true or false',
      'fields[2].name: must be a string matching ^[a-z][a-z0-9_]{0,63}$',
    ]);
  });

  it('checks the top level', () => {
    expect(checkSchemaStructure([])).toEqual([{ path: '', message: expect.stringMatching(/JSON object/) }]);
    expect(checkSchemaStructure({}).map((i) => i.path)).toEqual(['version', 'data', 'fields']);
    expect(checkSchemaStructure({ version: 0, data: { text: { type: 'text' } }, fields: [], extra: 1 }).map(formatIssue)).toEqual([
      'extra: unknown key',
      'version: must be 1',
      'fields: must be a non-empty list of label fields',
    ]);
    expect(checkSchemaStructure({ version: 1, data: { text: {} }, fields: [{ name: 'x', type: 'text' }] })).toEqual([
      { path: 'data.text.type', message: 'must be one of text, image, url, number, json, text_list' },
    ]);
  });

  it('mirrors the server on every field type, sources and unknown keys', () => {
    const data = { text: { type: 'text' }, img: { type: 'image' }, responses: { type: 'text_list', min_items: 2, max_items: 2 } };
    const valid = {
      version: 1,
      data,
      fields: [
        { name: 'topic', type: 'choices', choices: ['a', 'b'], multiple: true, title: 'Topic' },
        { name: 'score', type: 'rating', min: 0, max: 10 },
        { name: 'note', type: 'text', max_length: 500, required: false },
        { name: 'ents', type: 'spans', labels: ['PER', 'ORG'], source: 'text', allow_overlap: true },
        { name: 'objs', type: 'boxes', labels: ['car'], source: 'img' },
        { name: 'better', type: 'comparison', source: 'responses', criteria: ['safety'], allow_tie: true, rationale: 'required' },
      ],
    };
    expect(checkSchemaStructure(valid)).toEqual([]);
    const bad = {
      version: 1,
      data: { Text: { type: 'text' }, responses: { type: 'text_list', min_items: 3, max_items: 2, colour: 'red' } },
      fields: [
        { name: 'score', type: 'rating', min: 5, max: 5 },
        { name: 'note', type: 'text', max_length: 0 },
        { name: 'ents', type: 'spans', labels: ['PER'], source: 'responses' },
        { name: 'objs', type: 'boxes', labels: ['car'], source: 'img', allow_overlap: true },
        { name: 'better', type: 'comparison', source: 'responses', rationale: 'maybe' },
        { name: 'what', type: 'slider' },
      ],
    };
    expect(checkSchemaStructure(bad).map(formatIssue)).toEqual([
      'data.Text: name must match ^[a-z][a-z0-9_]{0,63}$',
      'data.responses.min_items/max_items: integers, 1 <= min_items <= max_items <= 100',
      'data.responses.colour: unknown key',
      'fields[0].max: must be greater than min, by at most 100',
      'fields[1].max_length: must be an integer from 1 to 100000',
      'fields[2].source: must name a data field of type text (declared in data)',
      'fields[3].source: must name a data field of type image (declared in data)',
      'fields[3].allow_overlap: unknown key for a boxes field',
      'fields[4].rationale: must be one of none, optional, required',
      'fields[5].type: must be one of choices, rating, text, spans, boxes, comparison',
    ]);
  });
});

describe('lineColumn', () => {
  it('is 1-based', () => {
    expect(lineColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
