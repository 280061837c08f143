import { assert, assertEquals, assertStringIncludes, assertThrows } from "../../tests/assert.ts";
import { defaultDeploymentName } from "./routes.ts";
import { ConfigError, loadConfig } from "./schema.ts";

/** The deployment names `MODEL_ROUTES` comes out with, route by route. */
function names(routes: Record<string, unknown>): Record<string, string[]> {
  const config = loadConfig({ MODEL_ROUTES: JSON.stringify(routes) });
  return Object.fromEntries(
    Object.entries(config.MODEL_ROUTES ?? {}).map(([model, route]) => [
      model,
      route.deployments.map((deployment) => deployment.name),
    ]),
  );
}

/** The one problem `MODEL_ROUTES` has. */
function problem(routes: Record<string, unknown>): string {
  const error = assertThrows(() => loadConfig({ MODEL_ROUTES: JSON.stringify(routes) }));
  assert(error instanceof ConfigError);
  assertEquals(error.problems.length, 1, error.message);
  return error.problems[0];
}

Deno.test("a deployment keeps the name MODEL_ROUTES gives it", () => {
  assertEquals(
    names({
      "gpt-4o": [
        { name: "openai-eu.primary:1", provider: "openai", model: "gpt-4o" },
        { name: "openai_US-2", provider: "openai", model: "gpt-4o" },
      ],
    }),
    { "gpt-4o": ["openai-eu.primary:1", "openai_US-2"] },
  );
});

Deno.test("a deployment without a name is named after its provider, model and base URL host", () => {
  assertEquals(
    names({
      "gpt-4o": {
        strategy: "priority",
        deployments: [
          { provider: "openai", model: "gpt-4o", base_url: "https://eu.example.com/v1" },
          { provider: "openai", model: "gpt-4o", base_url: "http://127.0.0.1:8081/v1" },
          { provider: "openai", model: "gpt-4o" },
        ],
      },
    }),
    {
      "gpt-4o": [
        "openai:gpt-4o:eu.example.com",
        "openai:gpt-4o:127.0.0.1:8081",
        "openai:gpt-4o",
      ],
    },
  );
});

Deno.test("default names replace characters unsafe in a label and stay bounded", () => {
  assertEquals(
    defaultDeploymentName({ provider: "openai", model: "accounts/fw/models/llama 3@v1" }),
    "openai:accounts_fw_models_llama_3_v1",
  );
  assertEquals(
    defaultDeploymentName({ provider: "openai", model: "llama3:8b" }),
    "openai:llama3:8b",
  );
  assertEquals(
    defaultDeploymentName({ provider: "openai", base_url: "http://[::1]:9000/v1" }),
    "openai:_::1_:9000",
  );
  assertEquals(defaultDeploymentName({ provider: "mock" }), "mock");
  const long = defaultDeploymentName({ provider: "openai", model: "m".repeat(500) });
  assertEquals(long.length, 128);
});

Deno.test("default names are made unique across every route, and never take a given name", () => {
  const same = { provider: "openai", model: "gpt-4o", base_url: "https://api.example.com/v1" };
  assertEquals(
    names({
      "gpt-4o": [same, same, { ...same, name: "openai:gpt-4o:api.example.com-3" }],
      "gpt-4o-latest": [same, { ...same, name: "openai:gpt-4o:api.example.com" }],
    }),
    {
      "gpt-4o": [
        "openai:gpt-4o:api.example.com-2",
        "openai:gpt-4o:api.example.com-4",
        "openai:gpt-4o:api.example.com-3",
      ],
      "gpt-4o-latest": ["openai:gpt-4o:api.example.com-5", "openai:gpt-4o:api.example.com"],
    },
  );
  const long = { provider: "openai", model: "m".repeat(500) };
  const [first, second] = names({ m: [long, long] }).m;
  assertEquals([first.length, second.length], [128, 128]);
  assertEquals(second, `${first.slice(0, 126)}-2`);
});

Deno.test("a name given twice stops the start, naming MODEL_ROUTES and both places", () => {
  const message = problem({
    "gpt-4o": [{ name: "primary", provider: "openai", model: "gpt-4o" }],
    "gpt-4o-mini": [
      { name: "backup", provider: "openai", model: "gpt-4o-mini" },
      { name: "primary", provider: "openai", model: "gpt-4o-mini" },
    ],
  });
  assert(message.startsWith("MODEL_ROUTES: "), message);
  assertStringIncludes(message, "repeats the name 'primary' of 'gpt-4o.deployments.0'");
  assertStringIncludes(message, "at 'gpt-4o-mini.deployments.1.name'");
});

Deno.test("a name outside the safe characters or too long stops the start", () => {
  for (const name of ["", "eu west", 'eu"west', "eu/west", "é", "n".repeat(129), 7]) {
    const message = problem({ m: [{ name, provider: "openai", model: "x" }] });
    assert(message.startsWith("MODEL_ROUTES: "), message);
    assertStringIncludes(message, "at 'm.deployments.0.name'");
  }
  assertStringIncludes(
    problem({ m: [{ name: "a b", provider: "openai", model: "x" }] }),
    "must be 1 to 128 of A-Z a-z 0-9 . _ : -",
  );
  assertEquals(names({ m: [{ name: "n".repeat(128), provider: "openai", model: "x" }] }).m, [
    "n".repeat(128),
  ]);
});

Deno.test("a base_url that is no URL stops the start with a message, not a crash", () => {
  const message = problem({ m: [{ provider: "openai", model: "x", base_url: "nope" }] });
  assert(message.startsWith("MODEL_ROUTES: "), message);
  assertStringIncludes(message, "at 'm.deployments.0.base_url'");
});

Deno.test("an azure deployment takes its Azure deployment name, api_version and token file", () => {
  const config = loadConfig({
    MODEL_ROUTES: JSON.stringify({
      "gpt-4o": [{
        provider: "azure",
        model: "gpt-4o",
        base_url: "https://my-resource.openai.azure.com",
        azure_deployment: "gpt-4o-prod_2",
        api_version: "2025-04-01-preview",
        azure_ad_token_file: "/var/run/secrets/azure/token",
      }, { provider: "azure", model: "gpt-4o", api_version: "v1" }],
    }),
  });
  const [first, second] = config.MODEL_ROUTES!["gpt-4o"].deployments;
  assertEquals(first.azure_deployment, "gpt-4o-prod_2");
  assertEquals(first.api_version, "2025-04-01-preview");
  assertEquals(first.azure_ad_token_file, "/var/run/secrets/azure/token");
  assertEquals(second.api_version, "v1");
});

Deno.test("a bad api_version or Azure deployment name stops the start naming the field", () => {
  for (
    const [field, value] of [["api_version", "2024-10"], ["azure_deployment", "my deployment"]]
  ) {
    const message = problem({ m: [{ provider: "azure", model: "gpt-4o", [field]: value }] });
    assertStringIncludes(message, `m.deployments.0.${field}`);
  }
});

Deno.test("azure fields on a deployment of another provider are refused", () => {
  assertStringIncludes(
    problem({ m: [{ provider: "openai", model: "gpt-4o", api_version: "2024-10-21" }] }),
    "is a field of azure deployments only",
  );
});

Deno.test("an azure deployment sends a key or a token, not both", () => {
  assertStringIncludes(
    problem({
      m: [{
        provider: "azure",
        model: "gpt-4o",
        api_key_env: "HOME",
        azure_ad_token_file: "/token",
      }],
    }),
    "cannot be set with api_key_env",
  );
});

Deno.test("a gemini deployment on Vertex AI takes its project, location and token file together", () => {
  const config = loadConfig({
    MODEL_ROUTES: JSON.stringify({
      "gemini-flash": [{
        provider: "gemini",
        model: "gemini-2.5-flash",
        vertex_project: "my-project-123",
        vertex_location: "europe-west4",
        vertex_token_file: "/var/run/secrets/google/token",
      }, { provider: "gemini", model: "gemini-2.5-flash" }],
    }),
  });
  const [vertex, aiStudio] = config.MODEL_ROUTES!["gemini-flash"].deployments;
  assertEquals(
    [vertex.vertex_project, vertex.vertex_location, vertex.vertex_token_file],
    ["my-project-123", "europe-west4", "/var/run/secrets/google/token"],
  );
  assertEquals(aiStudio.vertex_project, undefined);
});

Deno.test("a Vertex AI deployment missing a field, or with a bad one, stops the start naming it", () => {
  const vertex = {
    provider: "gemini",
    model: "gemini-2.5-flash",
    vertex_project: "my-project-123",
    vertex_location: "us-central1",
  };
  const missing = problem({ m: [vertex] });
  assertStringIncludes(missing, "m.deployments.0.vertex_token_file");
  assertStringIncludes(missing, "is needed, or vertex_credentials_file");
  const placeless = problem({
    m: [{ provider: "gemini", model: "gemini-2.5-flash", vertex_credentials_file: "/key.json" }],
  });
  assertStringIncludes(placeless, "m.deployments.0.vertex_project");
  assertStringIncludes(
    placeless,
    "is needed on Vertex AI, with vertex_project and vertex_location",
  );
  assertStringIncludes(
    problem({ m: [{ ...vertex, vertex_token_file: "/t", vertex_credentials_file: "/key.json" }] }),
    "cannot be set with vertex_token_file",
  );
  for (const [field, value] of [["vertex_project", "My Project"], ["vertex_location", "US/1"]]) {
    const message = problem({ m: [{ ...vertex, vertex_token_file: "/t", [field]: value }] });
    assertStringIncludes(message, `m.deployments.0.${field}`);
  }
  assertStringIncludes(
    problem({ m: [{ ...vertex, vertex_token_file: "/t", api_key_env: "HOME" }] }),
    "cannot be set with api_key_env",
  );
  assertStringIncludes(
    problem({ m: [{ provider: "openai", model: "x", vertex_location: "us-central1" }] }),
    "is a field of gemini deployments only",
  );
});

Deno.test("api: responses is an openai deployment's alone, and only chat or responses", () => {
  const config = loadConfig({
    MODEL_ROUTES: JSON.stringify({ m: [{ provider: "openai", model: "gpt-5", api: "responses" }] }),
  });
  assertEquals(config.MODEL_ROUTES!.m.deployments[0].api, "responses");
  assertStringIncludes(
    problem({ m: [{ provider: "anthropic", model: "claude", api: "responses" }] }),
    "is a field of openai deployments only",
  );
  assertStringIncludes(
    problem({ m: [{ provider: "openai", model: "gpt-5", api: "assistants" }] }),
    "must be one of chat, responses",
  );
});
