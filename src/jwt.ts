/**
 * `shared-session/jwt`: providers that authenticate with a signed JWT instead of a shared secret, signed with Web
 * Crypto only (RS256, ES256, PS256), so that they run unchanged in browsers, Deno, Cloudflare Workers and Node.
 * `jwtClientCredentials` is the client credentials grant with `private_key_jwt` client authentication (RFC 7523
 * §2.2); `jwtBearerGrant` is the JWT bearer grant (RFC 7523 §2.1) that Google service accounts use.
 *
 * @packageDocumentation
 */
export {
  JWT_BEARER_GRANT,
  JWT_CLIENT_ASSERTION,
  jwtBearerGrant,
  jwtClientCredentials,
  type JwtAlgorithm,
  type JwtBearerGrantOptions,
  type JwtClientCredentialsOptions,
  type JwtSigningOptions,
} from './providers/jwt-bearer.js';
