// Validates rendered Kubernetes manifests offline: `kubectl kustomize DIR | node validate.mjs`.
//
// Every document on stdin is checked against the schema of its apiVersion/kind:
//   - Kubernetes objects with `kubernetes-models`, KEDA objects with `@kubernetes-models/keda`,
//     Prometheus Operator objects with `@kubernetes-models/prometheus-operator` (each model's
//     `.validate()`: types, enums, required fields);
//   - on top of that, fields those schemas do not declare are errors: the generated validators
//     accept unknown fields (Kubernetes' OpenAPI has no additionalProperties: false), so each
//     document is validated through a proxy that records which fields the validator looked at;
//     a field of a schema-described object that it never looked at is unknown to the schema;
//   - RabbitmqCluster and MongoDBCommunity with the hand-written JSON Schemas in schemas/
//     (a subset of the operators' CRDs, see ../README.md), with ajv.
// An apiVersion/kind none of these knows is an error, so nothing passes unchecked.
// Exit 0 and one summary line when all documents are valid; exit 1 and one line per error.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as kubernetes from "kubernetes-models";
import * as keda from "@kubernetes-models/keda";
import * as prometheus from "@kubernetes-models/prometheus-operator";
import Ajv from "ajv";
import yaml from "js-yaml";

const here = dirname(fileURLToPath(import.meta.url));

function collectModels(namespace, found = new Map(), seen = new Set()) {
  if (seen.has(namespace)) return found;
  seen.add(namespace);
  for (const value of Object.values(namespace)) {
    if (typeof value === "function" && typeof value.apiVersion === "string" && typeof value.kind === "string") {
      found.set(`${value.apiVersion}/${value.kind}`, value);
    } else if (value && typeof value === "object") {
      collectModels(value, found, seen);
    }
  }
  return found;
}

const models = collectModels({ kubernetes, keda, prometheus });

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addKeyword("x-apiVersion");
ajv.addKeyword("x-kind");
const crdSchemas = new Map();
for (const file of ["rabbitmqcluster.json", "mongodbcommunity.json"]) {
  const schema = JSON.parse(readFileSync(join(here, "schemas", file), "utf8"));
  crdSchemas.set(`${schema["x-apiVersion"]}/${schema["x-kind"]}`, ajv.compile(schema));
}

/** Wraps `value` so that every field a validator reads is recorded in `nodes`. */
function tracked(value, path, nodes) {
  if (value === null || typeof value !== "object") return value;
  const node = { value, path, read: new Set(), enumerated: false };
  nodes.push(node);
  const children = new Map();
  return new Proxy(value, {
    get(target, key, receiver) {
      const result = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.hasOwn(target, key)) {
        if (typeof key === "string") node.read.add(key);
        return result;
      }
      node.read.add(key);
      if (!children.has(key)) children.set(key, tracked(result, `${path}/${key}`, nodes));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === "string") node.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      node.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(nodes) {
  const errors = [];
  for (const node of nodes) {
    // Arrays, maps the validator walked (labels, env data, trigger metadata) and free-form
    // objects it never looked into (no declared properties) have no fixed field list.
    if (Array.isArray(node.value) || node.enumerated || node.read.size === 0) continue;
    for (const key of Object.keys(node.value)) {
      if (!node.read.has(key)) errors.push(`${node.path}/${key}: unknown field`);
    }
  }
  return errors;
}

function validateDocument(doc) {
  if (!doc || typeof doc !== "object" || !doc.apiVersion || !doc.kind) {
    return ["not a Kubernetes object (no apiVersion/kind)"];
  }
  const key = `${doc.apiVersion}/${doc.kind}`;
  const crd = crdSchemas.get(key);
  if (crd) {
    return crd(doc) ? [] : crd.errors.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  }
  const Model = models.get(key);
  if (!Model) return [`unknown apiVersion/kind ${key}: no schema to validate it against`];
  const model = new Model(doc);
  try {
    model.validate();
  } catch (error) {
    return [error.message];
  }
  const nodes = [];
  try {
    model.validate.call(tracked(doc, "", nodes));
  } catch (error) {
    return [error.message];
  }
  return unknownFields(nodes);
}

const input = readFileSync(0, "utf8");
let documents;
try {
  documents = yaml.loadAll(input).filter((doc) => doc !== null && doc !== undefined);
} catch (error) {
  console.error(`invalid YAML: ${error.message}`);
  process.exit(1);
}
let failed = 0;
for (const doc of documents) {
  const name = `${doc?.kind ?? "?"}/${doc?.metadata?.name ?? "?"}`;
  for (const message of validateDocument(doc)) {
    console.error(`${name}: ${message}`);
    failed += 1;
  }
}
if (documents.length === 0) {
  console.error("no documents on stdin");
  process.exit(1);
}
if (failed) process.exit(1);
console.log(`${documents.length} documents valid`);
