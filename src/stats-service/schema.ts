import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifySchema, HTTPMethods } from 'fastify';
import { parse } from 'yaml';
import { z } from 'zod';

/** The contract file; routes, validation and auth requirements all come from it. */
export const OPENAPI_PATH = path.join(__dirname, 'openapi.yaml');

/** One operation of openapi.yaml, turned into what a fastify route needs. */
export interface ApiOperation {
  operationId: string;
  method: HTTPMethods;
  /** fastify path syntax: /v1/events/:id */
  url: string;
  /** `security: []` on the operation: no token needed. */
  isPublic: boolean;
  /** Parameters declared as integers: they arrive as strings and are converted before validation. */
  integerParams: { querystring: string[]; params: string[] };
  schema: FastifySchema;
}

type JsonSchema = Record<string, unknown>;

const jsonSchema = z.record(z.string(), z.unknown());
const jsonContent = z.object({ 'application/json': z.object({ schema: jsonSchema }) });

const parameter = z.object({
  name: z.string(),
  in: z.enum(['path', 'query', 'header', 'cookie']),
  required: z.boolean().default(false),
  schema: jsonSchema,
});

const operation = z.object({
  operationId: z.string(),
  parameters: z.array(parameter).default([]),
  requestBody: z.object({ content: jsonContent }).optional(),
  responses: z.record(z.string(), z.object({ content: jsonContent.optional() })),
  security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
});

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

const document = z.object({
  openapi: z.string().startsWith('3.1.'),
  paths: z.record(z.string(), z.object(Object.fromEntries(METHODS.map((m) => [m, operation.optional()])))),
});

/** Reads openapi.yaml and lists its operations with their fastify route schemas. */
export function loadApiOperations(file: string = OPENAPI_PATH): ApiOperation[] {
  const raw: unknown = parse(readFileSync(file, 'utf8'));
  const doc = document.parse(resolveRefs(raw, raw, []));
  const ops: ApiOperation[] = [];
  for (const [openapiPath, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (op) ops.push(toApiOperation(method, openapiPath, op));
    }
  }
  return ops;
}

function toApiOperation(method: string, openapiPath: string, op: z.infer<typeof operation>): ApiOperation {
  const querystring = op.parameters.filter((p) => p.in === 'query');
  const params = op.parameters.filter((p) => p.in === 'path');
  const response: Record<string, JsonSchema> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    // Only success bodies go through fastify's serializer; error bodies come from the error handler.
    if (status.startsWith('2') && r.content) response[status] = r.content['application/json'].schema;
  }
  const schema: FastifySchema = { response };
  if (op.requestBody) schema.body = op.requestBody.content['application/json'].schema;
  if (querystring.length > 0) schema.querystring = objectSchema(querystring);
  if (params.length > 0) schema.params = objectSchema(params);
  return {
    operationId: op.operationId,
    method: method.toUpperCase(),
    url: openapiPath.replace(/\{([^}]+)\}/g, ':$1'),
    isPublic: op.security !== undefined && op.security.length === 0,
    integerParams: { querystring: integerNames(querystring), params: integerNames(params) },
    schema,
  };
}

/** OpenAPI parameters as one JSON schema object; unknown parameters are rejected, so typos do not go unnoticed. */
function objectSchema(params: z.infer<typeof parameter>[]): JsonSchema {
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
    required: params.filter((p) => p.required).map((p) => p.name),
  };
}

function integerNames(params: z.infer<typeof parameter>[]): string[] {
  return params.filter((p) => p.schema.type === 'integer').map((p) => p.name);
}

/**
 * Replaces every local `$ref` (`#/components/...`) by the schema it points to, so fastify's ajv gets
 * self-contained schemas. Keywords next to a `$ref` (OpenAPI 3.1 allows `description`) are kept.
 */
function resolveRefs(node: unknown, root: unknown, seen: string[]): unknown {
  if (Array.isArray(node)) return node.map((n) => resolveRefs(n, root, seen));
  if (node === null || typeof node !== 'object') return node;
  const { $ref, ...rest } = node as Record<string, unknown>;
  const resolved = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, resolveRefs(v, root, seen)]));
  if ($ref === undefined) return resolved;
  if (typeof $ref !== 'string' || !$ref.startsWith('#/')) {
    throw new Error(`openapi: only local $ref values are supported, got ${JSON.stringify($ref)}`);
  }
  if (seen.includes($ref)) throw new Error(`openapi: circular $ref ${$ref}`);
  const target = resolveRefs(lookup(root, $ref), root, [...seen, $ref]);
  return { ...(target as Record<string, unknown>), ...resolved };
}

function lookup(root: unknown, ref: string): unknown {
  let node = root;
  for (const segment of ref.slice(2).split('/')) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) {
      throw new Error(`openapi: $ref ${ref} points nowhere`);
    }
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
