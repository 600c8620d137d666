/** The validated claims of the ID token (`sub`, and `name`, `email`… as the provider sends them). */
export interface UserClaims {
  readonly sub: string;
  readonly name?: string | undefined;
  readonly email?: string | undefined;
  readonly [claim: string]: unknown;
}

/** Who signed in: the ID token's validated claims, and the ID token itself (for `id_token_hint` at sign-out). */
export interface SignedInUser {
  readonly claims: UserClaims;
  readonly idToken?: string | undefined;
}
