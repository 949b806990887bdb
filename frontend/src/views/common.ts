import { h } from '../dom';

export function loading(text = 'Loading…'): HTMLElement {
  return h('p', { class: 'loading', role: 'status', 'data-testid': 'loading' }, text);
}

export function errorBox(message: string, retry?: () => void): HTMLElement {
  const box = h('div', { class: 'error-box', role: 'alert', 'data-testid': 'error' }, h('p', null, message));
  if (retry) {
    const btn = h('button', { type: 'button', class: 'button' }, 'Try again');
    btn.addEventListener('click', retry);
    box.appendChild(btn);
  }
  return box;
}
