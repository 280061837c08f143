import { GroupCommit, HttpError } from "../core/mod.ts";
import type { GatewayLogger } from "../observability/logging.ts";
import type { ModelPipeline, PipelineContext } from "../pipeline/mod.ts";
import type { Store, StoredResponse } from "../store/mod.ts";
import { newResponseId } from "./from_chat.ts";
import { type ResponseBody, ResponsesOperation } from "./operation.ts";
import type { InputItem, ResponsesRequest } from "./schema.ts";
import { inputItemsOf } from "./to_chat.ts";
import type { ConversationItem } from "./types.ts";

/** The store's side of stored responses. */
export type ResponseStore = Pick<Store, "saveResponses" | "getResponse" | "deleteResponse">;

/** What the Responses service is built from. */
export interface ResponsesServiceOptions {
  pipeline: Pick<ModelPipeline, "chatEquivalent">;
  store: ResponseStore;
  logger?: GatewayLogger;
  /** The time; the system clock by default. */
  now?: () => Date;
  /**
   * Answer without waiting for the response to be saved, for a store that only this process
   * writes (embedded SQLite, whose folder one gateway holds): its own reads wait for a save still
   * under way, so none misses a response it answered.
   */
  answerBeforeSaved?: boolean;
}

/** One page of `GET /v1/responses/{id}/input_items`, in OpenAI's list shape. */
export interface InputItemPage {
  object: "list";
  data: ConversationItem[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** How `input_items` pages. */
export interface InputItemsQuery {
  limit: number;
  order: "asc" | "desc";
  after?: string;
}

/**
 * A conversation longer than this many stored turns is cut to its latest ones: the walk back
 * through `previous_response_id` is bounded.
 */
const MAX_CONVERSATION_TURNS = 1000;

/**
 * The Responses API over the model pipeline: a request runs as one operation (translated to chat
 * or passed through natively) and, unless `store` is false, the response and its input are kept
 * in the store for the tenant, from which `previous_response_id` rebuilds the conversation.
 */
export class ResponsesService {
  readonly #options: ResponsesServiceOptions;
  readonly #now: () => Date;
  // Every stored response is a commit on the answer's path: together they cost one per batch.
  readonly #saves: GroupCommit<StoredResponse, void>;
  /** Saves under way, by tenant and id, for reads to wait on. */
  readonly #saving = new Map<string, Promise<void>>();

  constructor(options: ResponsesServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#saves = new GroupCommit({
      many: async (responses) => {
        await options.store.saveResponses(responses);
        return responses.map(() => undefined);
      },
      one: (response) => options.store.saveResponses([response]),
    });
  }

  /** Runs `POST /v1/responses`; `body` is the request as the client sent it. */
  async create(
    request: ResponsesRequest,
    body: Readonly<Record<string, unknown>>,
    context: PipelineContext,
  ): Promise<Response> {
    const tenantId = context.principal.tenantId;
    const previousId = request.previous_response_id ?? null;
    const history = previousId ? await this.#conversation(tenantId, previousId) : [];
    // Kept as sent: ids the gateway made up would mean nothing to a native upstream.
    const inputItems = inputItemsOf(request.input);
    const keep = request.store === false
      ? undefined
      : (response: ResponseBody) =>
        this.#keep({ tenantId, previousResponseId: previousId, inputItems, response });
    const operation = new ResponsesOperation({
      request,
      body,
      history,
      responseId: newResponseId(),
      now: () => Math.floor(this.#now().getTime() / 1000),
      onStreamFinish: keep,
    });
    const answer = await this.#options.pipeline.chatEquivalent(
      operation,
      operation.chatRequest,
      context,
    );
    if (keep && operation.whole) await keep(operation.whole);
    return answer;
  }

  /** The tenant's stored response; 404 when it has none by that id. */
  async retrieve(tenantId: string, id: string): Promise<ResponseBody> {
    return (await this.#stored(tenantId, id)).response;
  }

  /** Deletes the tenant's stored response; 404 when it has none by that id. */
  async delete(tenantId: string, id: string): Promise<ResponseBody> {
    await this.#saving.get(savingKey(tenantId, id));
    if (!await this.#options.store.deleteResponse(tenantId, id)) throw responseNotFound(id);
    return { id, object: "response", deleted: true };
  }

  /** The input items of the tenant's stored response, a page at a time. */
  async inputItems(tenantId: string, id: string, query: InputItemsQuery): Promise<InputItemPage> {
    const stored = await this.#stored(tenantId, id);
    const listed = (stored.inputItems as InputItem[]).map((item, index) =>
      listedItem(item, `${stored.id.replace(/^resp_/, "")}_${index}`)
    );
    const ordered = query.order === "asc" ? listed : listed.reverse();
    const start = query.after === undefined
      ? 0
      : ordered.findIndex((item) => item.id === query.after) + 1;
    const data = ordered.slice(start, start + query.limit);
    return {
      object: "list",
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: start + query.limit < ordered.length,
    };
  }

  async #stored(tenantId: string, id: string) {
    const stored = await this.#read(tenantId, id);
    if (!stored) throw responseNotFound(id);
    return stored;
  }

  /**
   * The items of the conversation that ends with the tenant's response `id`, oldest first: each
   * turn's input and output. A turn whose predecessor is gone (deleted, or past the retention)
   * starts it.
   */
  async #conversation(tenantId: string, id: string): Promise<InputItem[]> {
    const turns: InputItem[][] = [];
    let next: string | null = id;
    while (next !== null && turns.length < MAX_CONVERSATION_TURNS) {
      const stored = await this.#read(tenantId, next);
      if (!stored) {
        if (turns.length === 0) throw responseNotFound(id, "previous_response_id");
        break;
      }
      const output = Array.isArray(stored.response.output) ? stored.response.output : [];
      turns.push([...stored.inputItems, ...output] as InputItem[]);
      next = stored.previousResponseId;
    }
    return turns.reverse().flat();
  }

  async #read(tenantId: string, id: string): Promise<StoredResponse | undefined> {
    await this.#saving.get(savingKey(tenantId, id));
    return await this.#options.store.getResponse(tenantId, id);
  }

  /** Saves a finished turn; resolves once saved, or at once with `answerBeforeSaved`. */
  #keep(turn: {
    tenantId: string;
    previousResponseId: string | null;
    inputItems: InputItem[];
    response: ResponseBody;
  }): Promise<void> {
    const id = turn.response.id;
    if (typeof id !== "string") return Promise.resolve();
    const key = savingKey(turn.tenantId, id);
    const saving = this.#saves.run({
      tenantId: turn.tenantId,
      id,
      previousResponseId: turn.previousResponseId,
      inputItems: turn.inputItems,
      response: { ...turn.response },
      createdAt: this.#now(),
    }).catch((error) => {
      // The answer is produced and billed: it still goes out, only a later turn cannot build on it.
      this.#options.logger?.warning("response_store_failed", { response_id: id, error });
    }).finally(() => {
      if (this.#saving.get(key) === saving) this.#saving.delete(key);
    });
    this.#saving.set(key, saving);
    return this.#options.answerBeforeSaved ? Promise.resolve() : saving;
  }
}

function savingKey(tenantId: string, id: string): string {
  return `${tenantId}\n${id}`;
}

function responseNotFound(id: string, param?: string): HttpError {
  return new HttpError(404, `No response found with id '${id}'`, {
    type: "invalid_request_error",
    code: "response_not_found",
    param,
  });
}

const ITEM_ID_PREFIXES: Record<string, string> = {
  message: "msg",
  function_call: "fc",
  function_call_output: "fco",
  reasoning: "rs",
};

/**
 * `item` as `input_items` lists it: with an id (its own, or one made from its response's id and
 * its place, the same at every listing) and, for a message, its content as parts (a bare string
 * is one `input_text`), as OpenAI lists input items.
 */
function listedItem(item: InputItem, place: string): ConversationItem & { id: string } {
  const id = typeof item.id === "string" ? item.id : `${ITEM_ID_PREFIXES[item.type]}_${place}`;
  if (item.type === "message" && typeof item.content === "string") {
    const type = item.role === "assistant" ? "output_text" : "input_text";
    return { ...item, id, content: [{ type, text: item.content }] };
  }
  return { ...item, id };
}
