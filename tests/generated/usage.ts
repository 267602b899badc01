// Type-checked by `make test` (tsc --strict) against the types openapi-typescript generates
// from the served OpenAPI document: a document that drifts from what a TypeScript user of the
// API relies on (names, nullability, enums, per-status responses) fails the build.
import type { components, paths } from "./api";

type Client = components["schemas"]["ClientRecord"];
type Problem = components["schemas"]["Problem"];
type GetClient = paths["/v1/clients/{clientId}"]["get"];

// The 200 of GET /v1/clients/{clientId} is a client, its 404 a problem.
type Ok = GetClient["responses"][200]["content"]["application/json"];
type NotFound = GetClient["responses"][404]["content"]["application/problem+json"];
export const okIsClient: Ok extends Client ? true : never = true;
export const notFoundIsProblem: NotFound extends Problem ? true : never = true;

// Path parameters and headers are typed.
export const getParams: GetClient["parameters"]["path"] = { clientId: "0193a1b2-0000-7000-8000-000000000000" };
export const patchHeaders: paths["/v1/clients/{clientId}"]["patch"]["parameters"]["header"] = { "If-Match": "\"3\"" };

export function describe(c: Client): string {
  const status: "demo" | "trial" | "live" = c.status;
  const company: string = c.company ?? "(none)";
  const contactEmail: string | null | undefined = c.contact?.email;
  const version: number = c.version;
  return `${c.name} <${c.email}> ${status} v${version} of ${c.directPartner.name} (${c.partner.name}) ${company} ${contactEmail}`;
}

export function explain(p: Problem): string {
  const fields = (p.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
  return `${p.status} ${p.errorCode} (${p.requestId}): ${p.detail} ${fields}`;
}

export const newClient: components["schemas"]["NewClient"] = {
  name: "Ana Bakery",
  email: "ana@example.com",
  directPartner: { name: "Blue Agency" },
  quotas: { apiCalls: { limit: 10000, period: "month" } },
};

// @ts-expect-error: a NewClient has no such field (the API refuses unknown fields too)
export const typo: components["schemas"]["NewClient"] = { name: "Ana", email: "ana@example.com", colour: "red" };

// @ts-expect-error: status is one of demo, trial, live
export const badStatus: Client["status"] = "gold";
