import { afterEach, describe, expect, it, vi } from 'vitest';
import { installRouter, matchRoute, navigate, onNavigate, paths } from '../src/router';

describe('matchRoute', () => {
  it.each([
    ['/', { name: 'home' }],
    ['', { name: 'home' }],
    ['/t/acme', { name: 'tenant', slug: 'acme' }],
    ['/t/acme/', { name: 'tenant', slug: 'acme' }],
    ['/t/acme/projects', { name: 'projects', slug: 'acme' }],
    ['/t/acme/projects/', { name: 'projects', slug: 'acme' }],
    ['/t/acme/projects?x=1', { name: 'projects', slug: 'acme' }],
    ['/t/acme/projects/new', { name: 'project-new', slug: 'acme' }],
    ['/t/acme/projects/3f2a-uuid', { name: 'project', slug: 'acme', id: '3f2a-uuid' }],
    ['/t/acme/projects/42/', { name: 'project', slug: 'acme', id: '42' }],
    ['/t/my%20co/projects', { name: 'projects', slug: 'my co' }],
  ])('%s', (path, route) => {
    expect(matchRoute(path)).toEqual(route);
  });

  it.each([
    '/login',
    '/t',
    '/t/',
    '/t/acme/other',
    '/t/acme/projects/1/extra',
    '/api/v1/me',
    '/static/assets/x.js',
    '/t/%E0%A4%A/projects', // malformed escape
    '/t/a%2Fb/projects', // encoded slash
    '/t/acme/projects/%00',
  ])('%s is not found', (path) => {
    expect(matchRoute(path)).toEqual({ name: 'not-found' });
  });

  it('round-trips paths built by paths.*', () => {
    expect(matchRoute(paths.projects('acme'))).toEqual({ name: 'projects', slug: 'acme' });
    expect(matchRoute(paths.projectNew('acme'))).toEqual({ name: 'project-new', slug: 'acme' });
    expect(matchRoute(paths.project('acme', 'a b'))).toEqual({ name: 'project', slug: 'acme', id: 'a b' });
  });
});

describe('navigation', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    cleanups.splice(0).forEach((c) => c());
    history.replaceState(null, '', '/');
  });

  it('pushes history entries and notifies listeners, without duplicates', () => {
    const seen: string[] = [];
    cleanups.push(onNavigate(() => seen.push(location.pathname)));
    const before = history.length;
    navigate('/t/acme/projects');
    navigate('/t/acme/projects'); // same path: notify but no new entry
    expect(location.pathname).toBe('/t/acme/projects');
    expect(history.length).toBe(before + 1);
    navigate('/t/acme/projects/1', { replace: true });
    expect(history.length).toBe(before + 1);
    expect(seen).toEqual(['/t/acme/projects', '/t/acme/projects', '/t/acme/projects/1']);
  });

  it('refuses non-local targets', () => {
    expect(() => navigate('https://evil.example/')).toThrow();
    expect(() => navigate('//evil.example/')).toThrow();
  });

  it('re-renders on back/forward (popstate)', () => {
    installRouter();
    const listener = vi.fn();
    cleanups.push(onNavigate(listener));
    window.dispatchEvent(new PopStateEvent('popstate'));
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('intercepts plain clicks on SPA links but not modified clicks or API links', () => {
    installRouter();
    const listener = vi.fn();
    cleanups.push(onNavigate(listener));
    // Runs after the router's document listener: records its decision, then stops jsdom
    // from attempting a real navigation.
    const handled: boolean[] = [];
    const record = (e: Event): void => {
      handled.push(e.defaultPrevented);
      e.preventDefault();
    };
    window.addEventListener('click', record);
    const a = document.createElement('a');
    a.href = '/t/acme/projects/7';
    const apiLink = document.createElement('a');
    apiLink.href = '/api/v1/me';
    document.body.append(a, apiLink);
    cleanups.push(() => {
      window.removeEventListener('click', record);
      a.remove();
      apiLink.remove();
    });

    a.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, button: 0 }));
    expect(location.pathname).toBe('/t/acme/projects/7');
    a.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, button: 0, ctrlKey: true }));
    a.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, button: 1 }));
    apiLink.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, button: 0 }));
    expect(handled).toEqual([true, false, false, false]);
    expect(listener).toHaveBeenCalledTimes(1);
  });
});
