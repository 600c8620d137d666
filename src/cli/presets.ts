import { SIGN_IN_ISSUERS } from '../sentinel-hub.js';
import type { Profile } from './profiles.js';

export const DEFAULT_SCOPE = 'openid offline_access';

/**
 * The presets as profiles: `--profile cdse` or `--profile sentinel-hub` signs in to the deployment's Keycloak realm
 * (the issuers of `shared-session/sentinel-hub`) unless a saved profile of that name exists.
 * CDSE's `cdse-public` is the public client its documentation uses for tokens of a person; Sentinel Hub publishes no
 * public client for the command line, so `--client-id` is needed there.
 */
export const PRESET_PROFILES: Readonly<Record<string, { readonly issuer: string; readonly clientId?: string; readonly title: string }>> = {
  cdse: { issuer: SIGN_IN_ISSUERS.cdse, clientId: 'cdse-public', title: 'Copernicus Data Space Ecosystem' },
  'sentinel-hub': { issuer: SIGN_IN_ISSUERS.sentinelHub, title: 'Sentinel Hub' },
};

export function presetProfile(name: string): Partial<Profile> | undefined {
  const preset = Object.hasOwn(PRESET_PROFILES, name) ? PRESET_PROFILES[name] : undefined;
  if (preset === undefined) return undefined;
  return { issuer: preset.issuer, ...(preset.clientId !== undefined && { clientId: preset.clientId }) };
}
