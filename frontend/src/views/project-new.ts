import * as api from '../api';
import { h, replaceChildren } from '../dom';
import { paths } from '../router';
import { EXAMPLE_SCHEMA, formatIssue, validateSchemaText, type SchemaValidation } from '../schema';
import { canCreateProjects, type ViewContext } from './context';

type FieldName = 'name' | 'description' | 'instructions' | 'overlap' | 'label_schema';
type Control = HTMLInputElement | HTMLTextAreaElement;

interface FieldParts {
  control: Control;
  error: HTMLElement;
  wrapper: HTMLElement;
}

const LABELS: Record<FieldName, string> = {
  name: 'Name',
  description: 'Description',
  instructions: 'Instructions for annotators',
  overlap: 'Overlap (annotations per item)',
  label_schema: 'Label schema (JSON)',
};

function fieldBlock(name: FieldName, control: Control, hint?: string, extra?: HTMLElement): FieldParts {
  const id = `project-${name.replace('_', '-')}`;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  control.id = id;
  control.name = name;
  control.setAttribute('data-testid', `project-field-${name}`);
  control.setAttribute('aria-describedby', [hint ? hintId : '', extra?.id ?? '', errorId].filter(Boolean).join(' '));
  const error = h('div', { class: 'field-error', id: errorId, 'data-testid': `field-error-${name}` });
  const wrapper = h(
    'div',
    { class: 'field' },
    h('label', { for: id }, LABELS[name]),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    control,
    extra ?? null,
    error,
  );
  return { control, error, wrapper };
}

function setFieldError(parts: FieldParts, messages: string[]): void {
  replaceChildren(parts.error, messages.length ? h('ul', null, messages.map((m) => h('li', null, m))) : null);
  parts.error.classList.toggle('visible', messages.length > 0);
  if (messages.length) parts.control.setAttribute('aria-invalid', 'true');
  else parts.control.removeAttribute('aria-invalid');
}

/** Render the live validation result under the schema textarea. */
export function renderSchemaStatus(status: HTMLElement, result: SchemaValidation): void {
  status.classList.toggle('ok', result.ok);
  status.classList.toggle('invalid', !result.ok);
  if (result.ok) {
    const n = result.value.fields.length;
    replaceChildren(status, `Schema looks valid: ${n} label field${n === 1 ? '' : 's'}.`);
  } else {
    replaceChildren(status, h('ul', null, result.issues.map((i) => h('li', null, formatIssue(i)))));
  }
}

/** /t/{slug}/projects/new */
export function renderProjectNew(ctx: ViewContext, slug: string): HTMLElement {
  ctx.setTitle('New project');
  if (!canCreateProjects(ctx.membership)) {
    return h(
      'section',
      { class: 'project-new', 'data-testid': 'project-new-forbidden' },
      h('h1', { tabindex: -1 }, 'New project'),
      h('p', null, 'Only owners and managers of this tenant can create projects.'),
      h('p', null, h('a', { href: paths.projects(slug) }, '← Back to projects')),
    );
  }

  const schemaStatus = h('div', {
    class: 'schema-status',
    id: 'project-label-schema-status',
    'aria-live': 'polite',
    'data-testid': 'schema-status',
  });

  const f: Record<FieldName, FieldParts> = {
    name: fieldBlock('name', h('input', { type: 'text', required: true, maxlength: 200, autocomplete: 'off' })),
    description: fieldBlock('description', h('textarea', { rows: 3 })),
    instructions: fieldBlock(
      'instructions',
      h('textarea', { rows: 6 }),
      'Plain text shown to annotators. Line breaks are kept.',
    ),
    overlap: fieldBlock(
      'overlap',
      h('input', { type: 'number', min: 1, step: 1, required: true, inputmode: 'numeric' }),
      'How many different annotators label each item.',
    ),
    label_schema: fieldBlock(
      'label_schema',
      h('textarea', { rows: 16, class: 'code', spellcheck: 'false', autocapitalize: 'none', autocomplete: 'off' }),
      'JSON with "version", optional "data" and a list of "fields". It is checked as you type.',
      schemaStatus,
    ),
  };
  f.overlap.control.value = '1';
  f.label_schema.control.value = JSON.stringify(EXAMPLE_SCHEMA, null, 2);

  const formError = h('div', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'project-submit' }, 'Create project');
  const form = h(
    'form',
    { class: 'project-form', 'data-testid': 'project-form', novalidate: true, 'aria-labelledby': 'project-new-title' },
    formError,
    (Object.keys(f) as FieldName[]).map((k) => f[k].wrapper),
    h('div', { class: 'actions' }, submit, ' ', h('a', { href: paths.projects(slug), class: 'button' }, 'Cancel')),
  );

  const validateSchema = (): SchemaValidation => {
    const result = validateSchemaText(f.label_schema.control.value);
    renderSchemaStatus(schemaStatus, result);
    if (result.ok) f.label_schema.control.removeAttribute('aria-invalid');
    else f.label_schema.control.setAttribute('aria-invalid', 'true');
    return result;
  };
  validateSchema();

  for (const key of Object.keys(f) as FieldName[]) {
    f[key].control.addEventListener('input', () => {
      setFieldError(f[key], []); // a server error no longer applies once the value changes
      if (key === 'label_schema') validateSchema();
    });
  }

  const showFormError = (messages: string[]): void => {
    replaceChildren(formError, messages.length ? h('ul', null, messages.map((m) => h('li', null, m))) : null);
    formError.classList.toggle('visible', messages.length > 0);
  };

  const focusFirstInvalid = (): void => {
    const first = (Object.keys(f) as FieldName[]).find((k) => f[k].control.getAttribute('aria-invalid') === 'true');
    if (first) f[first].control.focus();
    else formError.focus();
  };

  let pending = false;
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (pending) return;
    showFormError([]);
    for (const k of Object.keys(f) as FieldName[]) setFieldError(f[k], []);

    const name = f.name.control.value.trim();
    const overlapText = f.overlap.control.value.trim();
    const overlap = Number(overlapText);
    const schema = validateSchema();
    let ok = true;
    if (!name) {
      setFieldError(f.name, ['This field is required.']);
      ok = false;
    }
    if (!/^\d+$/.test(overlapText) || !Number.isSafeInteger(overlap) || overlap < 1) {
      setFieldError(f.overlap, ['Enter a whole number of at least 1.']);
      ok = false;
    }
    if (!schema.ok) {
      setFieldError(f.label_schema, ['Fix the label schema problems listed above.']);
      ok = false;
    }
    if (!ok) {
      focusFirstInvalid();
      return;
    }

    const input: api.ProjectInput = {
      name,
      description: f.description.control.value,
      instructions: f.instructions.control.value,
      overlap,
      label_schema: schema.ok ? schema.value : null,
    };
    pending = true;
    submit.disabled = true;
    submit.textContent = 'Creating…';
    void (async () => {
      try {
        const project = await api.createProject(slug, input);
        ctx.navigate(paths.project(slug, project.id));
      } catch (err) {
        if (err instanceof api.ApiError && err.status === 400) {
          const other: string[] = [];
          for (const [key, messages] of Object.entries(err.fields)) {
            if (key in f) setFieldError(f[key as FieldName], messages);
            else other.push(...messages.map((m) => (key === 'non_field_errors' || key === '__all__' ? m : `${key}: ${m}`)));
          }
          showFormError([err.message, ...other]);
          focusFirstInvalid();
        } else if (err instanceof api.ApiError && (err.status === 404 || err.status === 401)) {
          ctx.fail(err, formError);
        } else if (err instanceof api.ApiError) {
          showFormError([err.message]);
          formError.focus();
        } else if (!api.isAbortError(err)) {
          showFormError(['Something went wrong. Please try again.']);
        }
      } finally {
        pending = false;
        submit.disabled = false;
        submit.textContent = 'Create project';
      }
    })();
  });
  formError.tabIndex = -1;

  return h(
    'section',
    { class: 'project-new' },
    h('p', { class: 'breadcrumb' }, h('a', { href: paths.projects(slug) }, '← All projects')),
    h('h1', { id: 'project-new-title', tabindex: -1 }, 'New project'),
    form,
  );
}
