import type { Context } from "hono";
import type { Principal } from "../auth/mod.ts";
import type { PipelineContext, RequestRecord } from "../pipeline/mod.ts";
import type { ErrorFormat } from "./errors.ts";

/** The variables the gateway's middleware keeps on Hono's context. */
export interface GatewayEnv {
  Variables: {
    record: RequestRecord;
    principal: Principal;
    /** The raw request body, read once by authentication (signatures cover it). */
    body: Uint8Array;
    /** The route's error body; OpenAI's when unset. */
    errorFormat?: ErrorFormat;
  };
}

/** The authenticated request's side of the pipeline. */
export function pipelineContext(c: Context<GatewayEnv>): PipelineContext {
  return { record: c.get("record"), principal: c.get("principal"), clientSignal: c.req.raw.signal };
}
