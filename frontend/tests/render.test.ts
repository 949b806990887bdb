import { afterEach, describe, expect, it } from 'vitest';
import { h } from '../src/dom';
import { renderHeader } from '../src/views/header';
import { renderProjectDetail } from '../src/views/project-detail';
import { renderProjectRow } from '../src/views/projects';
import { acme, me, project } from './helpers';

const EVIL = '<script>alert(1)</script>';
const EVIL_IMG = '<img src=x onerror=alert(2)>';

afterEach(() => {
  document.body.replaceChildren();
});

function expectNoInjectedElements(root: Element): void {
  expect(root.querySelectorAll('script, img, iframe, object, embed').length).toBe(0);
  for (const el of root.querySelectorAll('*')) {
    for (const attr of el.getAttributeNames()) expect(attr.startsWith('on')).toBe(false);
  }
}

describe('data is rendered as text, never HTML', () => {
  const evil = project({
    id: 'evil"><b>',
    name: EVIL,
    description: `${EVIL} ${EVIL_IMG}`,
    instructions: EVIL,
    label_schema: {
      version: 1,
      data: { [EVIL]: { type: EVIL } },
      fields: [{ name: EVIL, type: EVIL_IMG, choices: [EVIL, EVIL_IMG] }],
    },
    created_by: { id: 9, username: EVIL },
    permissions: [EVIL],
  });

  it('project list row', () => {
    const table = document.createElement('table');
    const tbody = document.createElement('tbody');
    table.appendChild(tbody);
    document.body.appendChild(table);
    const row = renderProjectRow('acme', evil);
    tbody.appendChild(row);

    expectNoInjectedElements(row);
    expect(row.querySelector('a')?.textContent).toBe(EVIL);
    expect(row.querySelector('.description')?.textContent).toBe(`${EVIL} ${EVIL_IMG}`);
    expect(row.textContent).toContain('<script>alert(1)</script>');
    // The id is URL-encoded into the link, not parsed as markup.
    expect(row.querySelector('a')?.getAttribute('href')).toBe('/t/acme/projects/evil%22%3E%3Cb%3E');
    expect(row.querySelectorAll('b').length).toBe(0);
  });

  it('project details', () => {
    const detail = renderProjectDetail('acme', evil);
    document.body.appendChild(detail);

    expectNoInjectedElements(detail);
    expect(detail.querySelector('h1')?.textContent).toBe(EVIL);
    expect(detail.querySelector('[data-testid="project-description"]')?.textContent).toBe(`${EVIL} ${EVIL_IMG}`);
    expect(detail.querySelector('[data-testid="project-instructions"]')?.textContent).toBe(EVIL);
    expect(detail.querySelector('[data-testid="schema-field"] code')?.textContent).toBe(EVIL);
    expect(detail.textContent).toContain(EVIL_IMG);
  });

  it('header with hostile tenant and user names', () => {
    const m = { id: 'm1', role: 'manager', tenant: { ...acme, name: EVIL, slug: 'acme' } };
    const header = renderHeader({ ...me([m]), username: EVIL_IMG }, m, { navigate: () => {}, logout: () => {} });
    document.body.appendChild(header);
    expectNoInjectedElements(header);
    expect(header.querySelector('[data-testid="tenant-name"]')?.textContent).toBe(EVIL);
    expect(header.querySelector('[data-testid="current-user"]')?.textContent).toBe(EVIL_IMG);
    expect(header.querySelector('option')?.textContent).toContain(EVIL);
  });

  it('h() refuses inline handlers and style attributes', () => {
    expect(() => h('div', { onclick: 'alert(1)' })).toThrow();
    expect(() => h('div', { style: 'color:red' })).toThrow();
    expect(h('p', null, EVIL).childNodes[0]?.nodeType).toBe(Node.TEXT_NODE);
  });
});
