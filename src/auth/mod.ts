/**
 * @module
 * Authentication: API keys (made, hashed and verified with a short cache) and the admin token.
 */
export {
  ApiKeyAuthenticator,
  type ApiKeyAuthenticatorOptions,
  type Principal,
} from "./authenticator.ts";
export { constantTimeEqual, generateApiKey, hashApiKey, type NewApiKey } from "./keys.ts";
