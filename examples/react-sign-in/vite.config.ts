import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `VITE_OIDC_ISSUER=https://login.example.com VITE_OIDC_CLIENT_ID=web VITE_API_URL=https://api.example.com/me npx vite`
export default defineConfig({ plugins: [react()] });
