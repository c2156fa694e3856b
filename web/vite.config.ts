/**
 * Vite build of the operator console. JSX goes through Vite's own Oxc
 * transform with Preact's automatic runtime, so no framework preset package
 * is needed. The output (web/dist) is what server/console/routes.ts serves.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    sourcemap: false,
  },
  server: { proxy: { '/api': 'http://localhost:8080' } },
});
