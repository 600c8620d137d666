import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { SessionProvider } from 'shared-session/react';
import { App } from './App.js';
import { makeSession } from './session.js';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BrowserRouter>
      <SessionProvider session={makeSession}>
        <App />
      </SessionProvider>
    </BrowserRouter>
  </StrictMode>,
);
