import type { Principal } from "../auth/mod.ts";
import type { RequestRecord } from "../pipeline/mod.ts";

/** The variables the gateway's middleware keeps on Hono's context. */
export interface GatewayEnv {
  Variables: {
    record: RequestRecord;
    principal: Principal;
    /** The raw request body, read once by authentication (signatures cover it). */
    body: Uint8Array;
  };
}
