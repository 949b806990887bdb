import * as api from '../api';
import { formatDate, h, replaceChildren } from '../dom';
import { labelPaths } from '../label/routes';
import { paths } from '../router';
import { projectScreens, projectTabs } from '../staff/ui';
import { loading } from './common';
import type { ViewContext } from './context';

function yesNo(v: unknown): string {
  return v === true ? 'yes' : v === false ? 'no' : '—';
}

function renderField(field: api.LabelField): HTMLElement {
  const choices = Array.isArray(field.choices) ? field.choices : null;
  return h(
    'li',
    { class: 'schema-field', 'data-testid': 'schema-field' },
    h('div', { class: 'schema-field-head' }, h('code', null, String(field.name ?? '')), ' ', h('span', { class: 'tag' }, String(field.type ?? ''))),
    h(
      'dl',
      { class: 'inline-dl' },
      h('dt', null, 'Required'),
      h('dd', null, yesNo(field.required)),
      h('dt', null, 'Multiple'),
      h('dd', null, yesNo(field.multiple)),
      choices
        ? [
            h('dt', null, 'Choices'),
            h('dd', null, h('ul', { class: 'tags' }, choices.map((c) => h('li', { class: 'tag' }, String(c))))),
          ]
        : null,
    ),
  );
}

/** The project details block. Exported for tests: all data goes in as text. */
export function renderProjectDetail(slug: string, project: api.Project): HTMLElement {
  const schema = project.label_schema;
  const fields = schema && Array.isArray(schema.fields) ? schema.fields : [];
  const dataKeys = schema && typeof schema.data === 'object' && schema.data !== null ? Object.entries(schema.data) : [];

  return h(
    'article',
    { class: 'project-detail', 'data-testid': 'project-detail', 'data-project-id': project.id },
    h('p', { class: 'breadcrumb' }, h('a', { href: paths.projects(slug) }, '← All projects')),
    h('h1', { tabindex: -1, 'data-testid': 'project-name' }, project.name || '(untitled)'),
    (project.permissions ?? []).includes('annotate')
      ? h(
          'p',
          null,
          h('a', { class: 'button primary', href: labelPaths.label(slug, project.id), 'data-testid': 'start-labeling' }, 'Start labeling'),
        )
      : null,
    projectScreens(project.permissions ?? []).length ? projectTabs(slug, project, 'details') : null,
    project.description
      ? h('p', { class: 'description prewrap', 'data-testid': 'project-description' }, project.description)
      : null,
    h(
      'dl',
      { class: 'meta' },
      h('dt', null, 'Overlap'),
      h('dd', null, String(project.overlap)),
      h('dt', null, 'Created by'),
      h('dd', null, project.created_by?.username ?? '—'),
      h('dt', null, 'Created'),
      h('dd', null, formatDate(project.created_at)),
      h('dt', null, 'Updated'),
      h('dd', null, formatDate(project.updated_at)),
      h('dt', null, 'Your permissions'),
      h(
        'dd',
        null,
        (project.permissions ?? []).length
          ? h('ul', { class: 'tags' }, project.permissions.map((p) => h('li', { class: 'tag' }, p)))
          : 'none',
      ),
    ),
    h('h2', null, 'Instructions'),
    project.instructions
      ? h('div', { class: 'instructions prewrap', 'data-testid': 'project-instructions' }, project.instructions)
      : h('p', { class: 'muted' }, 'No instructions.'),
    h('h2', null, 'Label schema'),
    dataKeys.length
      ? h(
          'p',
          null,
          'Item data: ',
          dataKeys.map(([key, spec], i) => [
            i ? ', ' : '',
            h('code', null, key),
            ` (${typeof spec === 'object' && spec !== null ? String((spec as { type?: unknown }).type ?? '?') : '?'})`,
          ]).flat(),
        )
      : null,
    fields.length
      ? h('ul', { class: 'schema-fields', 'data-testid': 'schema-fields' }, fields.map(renderField))
      : h('p', { class: 'muted' }, 'No label fields.'),
    h(
      'details',
      null,
      h('summary', null, 'Raw schema JSON'),
      h('pre', { class: 'code' }, JSON.stringify(schema, null, 2)),
    ),
  );
}

/** /t/{slug}/projects/{id} */
export function renderProjectPage(ctx: ViewContext, slug: string, id: string): HTMLElement {
  ctx.setTitle('Project');
  const root = h('section', { class: 'project-page' }, h('h1', { tabindex: -1, class: 'visually-hidden' }, 'Project'), loading());

  const load = async (): Promise<void> => {
    replaceChildren(root, h('h1', { tabindex: -1, class: 'visually-hidden' }, 'Project'), loading());
    try {
      const project = await api.getProject(slug, id, ctx.signal);
      ctx.setTitle(project.name || 'Project');
      const hadFocus = root.contains(document.activeElement);
      replaceChildren(root, renderProjectDetail(slug, project));
      if (hadFocus || document.activeElement === document.body) {
        root.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
      }
    } catch (err) {
      replaceChildren(root, h('h1', { tabindex: -1 }, 'Project'));
      ctx.fail(err, root, () => void load());
    }
  };
  void load();
  return root;
}
