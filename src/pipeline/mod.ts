/**
 * @module
 * The request pipeline between the HTTP routes and the services: routing and the upstream call.
 */
export {
  Admission,
  type AdmissionOptions,
  type Admitted,
  type DefaultLimits,
} from "./admission.ts";
export { ChatPipeline, type ChatPipelineOptions, toHttpError } from "./chat.ts";
export type { RequestRecord } from "./record.ts";
