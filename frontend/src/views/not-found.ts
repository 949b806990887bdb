import { h } from '../dom';

/**
 * The single Not found screen. It is deliberately identical whether the tenant or project
 * does not exist or belongs to someone else.
 */
export function renderNotFound(): HTMLElement {
  return h(
    'section',
    { class: 'not-found', 'data-testid': 'not-found', 'aria-labelledby': 'not-found-title' },
    h('h1', { id: 'not-found-title', tabindex: -1 }, 'Not found'),
    h('p', null, 'The page you asked for does not exist, or you do not have access to it.'),
    h('p', null, h('a', { href: '/' }, 'Go to the start page')),
  );
}
