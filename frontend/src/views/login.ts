import * as api from '../api';
import { h, replaceChildren } from '../dom';

/** Login screen. Calls GET /auth/csrf, then POST /auth/login, then GET /me. */
export function renderLogin(onLoggedIn: (me: api.Me) => void): HTMLElement {
  const username = h('input', {
    id: 'login-username',
    name: 'username',
    type: 'text',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    'data-testid': 'login-username',
  });
  const password = h('input', {
    id: 'login-password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'data-testid': 'login-password',
  });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'login-submit' }, 'Log in');
  const error = h('div', { class: 'form-error', id: 'login-error', role: 'alert', 'data-testid': 'login-error' });

  const form = h(
    'form',
    { class: 'login-form card', 'data-testid': 'login-form', 'aria-labelledby': 'login-title', novalidate: true },
    h('h1', { id: 'login-title', tabindex: -1 }, 'Log in'),
    error,
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
    h('div', { class: 'actions' }, submit),
  );

  const showError = (message: string): void => {
    replaceChildren(error, message);
    error.classList.add('visible');
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    replaceChildren(error);
    error.classList.remove('visible');
    if (!username.value.trim() || !password.value) {
      showError('Enter your username and password.');
      (username.value.trim() ? password : username).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Logging in…';
    void (async () => {
      try {
        await api.getCsrf();
        await api.login(username.value.trim(), password.value);
        const me = await api.getMe();
        if (!me) throw new api.ApiError(401, 'not_authenticated', 'Login did not stick. Are cookies enabled?');
        onLoggedIn(me);
      } catch (err) {
        let message = 'Could not log in. Please try again.';
        if (err instanceof api.ApiError) {
          const fieldMessages = Object.entries(err.fields).map(([f, msgs]) => `${f}: ${msgs.join(' ')}`);
          message = [err.message, ...fieldMessages].join(' ');
        }
        showError(message);
        password.value = '';
        password.focus();
      } finally {
        submit.disabled = false;
        submit.textContent = 'Log in';
      }
    })();
  });

  return h('section', { class: 'login-screen' }, form);
}
