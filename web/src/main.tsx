import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import './app.css';
import { SessionProvider } from './session.tsx';
import { Shell } from './shell/Shell.tsx';

const root = document.getElementById('root');
if (root)
  createRoot(root).render(
    <StrictMode>
      <SessionProvider>
        <Shell />
      </SessionProvider>
    </StrictMode>,
  );
