/**
 * @module
 * Authentication: API keys (made, hashed and verified with a short cache), request signatures
 * with replay protection, signing secrets sealed at rest, and the admin token.
 */
export {
  ApiKeyAuthenticator,
  type ApiKeyAuthenticatorOptions,
  type Principal,
} from "./authenticator.ts";
export { constantTimeEqual, generateApiKey, hashApiKey, type NewApiKey } from "./keys.ts";
export { MemoryNonceStore, type NonceStore, RedisNonceStore } from "./nonces.ts";
export { RequestSignatures, type RequestSignaturesOptions } from "./request_signatures.ts";
export { generateSigningSecret, SecretBox } from "./secret_box.ts";
export { signRequest } from "./sign_request.ts";
export {
  SignatureError,
  type SignatureFailure,
  SignatureVerifier,
  type SignedRequest,
} from "./signature.ts";
