/**
 * @module
 * The request pipeline between the HTTP routes and the services: routing, limits, quota, the
 * upstream call and billing.
 */
export {
  Admission,
  type AdmissionOptions,
  type Admitted,
  type DefaultLimits,
} from "./admission.ts";
export {
  ModelPipeline,
  type ModelPipelineOptions,
  type PipelineContext,
  toHttpError,
} from "./model_pipeline.ts";
export type { RequestRecord } from "./record.ts";
export type { MessagesInput } from "../providers/mod.ts";
