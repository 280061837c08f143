import { HttpError } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { Principal } from "./authenticator.ts";
import type { SecretBox } from "./secret_box.ts";
import { SignatureError, type SignatureVerifier, type SignedRequest } from "./signature.ts";

/** What {@linkcode RequestSignatures} is built from. */
export interface RequestSignaturesOptions {
  verifier: SignatureVerifier;
  /** Opens sealed signing secrets; undefined when no master key is configured. */
  box: SecretBox | undefined;
  logger: GatewayLogger;
}

/**
 * The signature step of the pipeline: requests with a key that requires signatures must carry a
 * valid one, or get 401 and a `signature_failed` line naming the reason.
 */
export class RequestSignatures {
  readonly #options: RequestSignaturesOptions;

  constructor(options: RequestSignaturesOptions) {
    this.#options = options;
  }

  /** Verifies the request when its key requires it; does nothing otherwise. */
  async check(principal: Principal, request: SignedRequest): Promise<void> {
    const { key } = principal;
    if (!key.requireSignature) return;
    const { verifier, box, logger } = this.#options;
    if (!box || !key.signingSecretSealed) {
      logger.error("signature_unverifiable", { api_key_id: key.id, reason: "no_master_key" });
      throw new HttpError(
        503,
        "Signed requests cannot be verified: the gateway has no master key",
        {
          type: "service_unavailable",
          code: "signature_unavailable",
        },
      );
    }
    try {
      const signingSecret = await box.decrypt(key.signingSecretSealed);
      await verifier.verify(request, { id: key.id, signingSecret });
    } catch (error) {
      if (error instanceof SignatureError) {
        logger.warning("signature_failed", {
          reason: error.reason,
          tenant_id: principal.tenantId,
          api_key_id: key.id,
        });
        throw error;
      }
      // A nonce store that cannot answer must not let a possible replay through.
      logger.error("signature_unverifiable", { api_key_id: key.id, error });
      throw new HttpError(503, "Signed requests cannot be verified right now; retry later", {
        type: "service_unavailable",
        code: "signature_unavailable",
        cause: error,
      });
    }
  }
}
