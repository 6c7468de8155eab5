import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The clinician web app: built into web/dist, served by the Hale server at / (src/web/static.ts).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  plugins: [react()],
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    // /assets/ belongs to the sign-in pages; the app's files live under /app/.
    assetsDir: 'app',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 400,
  },
});
