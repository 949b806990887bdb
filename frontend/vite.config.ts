import { defineConfig } from 'vitest/config';

// Production assets are served by Django under /static/ (see README.md).
// The dev server uses / so that SPA routes (/t/...) work, and proxies the API to Django.
export default defineConfig(({ command }) => ({
  base: command === 'build' ? '/static/' : '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2022',
    // Keep the CSP strict: no data: URLs for fonts or scripts, no inline module-preload code.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: {
      // Keep the Host header (changeOrigin: false) so Django's CSRF origin check sees the
      // same host as the Origin header.
      '/api': { target: 'http://127.0.0.1:8000', changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
    restoreMocks: true,
  },
}));
