/**
 * Checks that `terraform/` declares exactly the infrastructure in `shared/topology.ts`: the same
 * topics, subscriptions (ack deadline, retry and dead-letter policies, retention, push target and
 * path), functions (entry point, memory, timeout, invoker), the Cloud Scheduler job of each
 * scheduled function (schedule, target, method, deadline, OIDC identity and its invoker grant),
 * bucket CORS and notifications, and only environment variables that `ConfigSchema` knows, with
 * values it accepts. The local platform builds its emulator wiring from `topology`, so this is
 * what keeps local and production from drifting apart. A function whose Document AI processor
 * terraform creates is also checked for what the google OCR engine needs from it (processor type,
 * full resource name, API, IAM grant), and a function deployed with a google embedding, summary or
 * speech-to-text engine for what Vertex AI or Speech-to-Text needs (API, IAM grant).
 *
 * Terraform cannot be planned offline, so the check works on the HCL itself: every `.tf` file is
 * parsed with `@cdktf/hcl2json`, and expressions (which arrive as strings such as
 * `"${google_pubsub_topic.ocr_requests.id}"`) are resolved by resource address, local or variable
 * default. Anything it cannot resolve is reported rather than guessed.
 *
 * Used by `test/unit/terraform.test.ts` and `scripts/check-terraform.ts`; never by a function at
 * run time (hcl2json is a devDependency and is only loaded when a check runs).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigSchema } from './config/index.js';
import {
  bucketName,
  pushPath,
  topology,
  type BucketDecl,
  type BucketName,
  type FunctionDecl,
  type SubscriptionDecl,
  type TopicDecl,
} from './topology.js';

/** How terraform spells the project in names and paths (the checker compares expressions as text). */
export const TERRAFORM_PROJECT_EXPR = '${var.project_id}';

/**
 * Buckets terraform may declare beyond the topology's: deployment plumbing the local platform has
 * no use for. Anything else extra is drift.
 */
export const DEPLOYMENT_ONLY_BUCKETS: readonly string[] = [`${TERRAFORM_PROJECT_EXPR}-function-sources`];

/** The runtime every function must use (package.json `engines`: Node 20). */
export const FUNCTION_RUNTIME = 'nodejs20';

// ---------------------------------------------------------------------------------------------
// Parsing: hcl2json output is untyped JSON, so it goes through zod before anything reads it.

type Attrs = Readonly<Record<string, unknown>>;

const AttrsSchema = z.record(z.string(), z.unknown());
const HclFileSchema = z.object({
  resource: z.record(z.string(), z.record(z.string(), z.array(AttrsSchema))).optional(),
  locals: z.array(AttrsSchema).optional(),
  variable: z.record(z.string(), z.array(AttrsSchema)).optional(),
});

interface TfBlock {
  /** `type.name`, as terraform addresses the resource. */
  readonly address: string;
  readonly type: string;
  readonly name: string;
  readonly file: string;
  readonly attrs: Attrs;
}

interface TfModel {
  readonly resources: Map<string, TfBlock>;
  readonly locals: Map<string, unknown>;
  /** Variable defaults (`undefined` when a variable has none). */
  readonly variables: Map<string, unknown>;
  /** Raw text by file name, for checks no parse tree helps with (identifiers in any position). */
  readonly sources: Map<string, string>;
}

type Hcl2JsonParse = (filename: string, contents: string) => Promise<unknown>;

/**
 * Loads hcl2json through `require` rather than a static import: its type declarations pull the DOM
 * lib into whatever program imports them, which would change global types for the whole project.
 */
function loadHcl2Json(): Hcl2JsonParse {
  const require = createRequire(import.meta.url);
  const mod: unknown = require('@cdktf/hcl2json');
  if (!isRecord(mod) || typeof mod.parse !== 'function') throw new Error('@cdktf/hcl2json does not export parse()');
  // Its documented signature; the result is still treated as unknown and parsed with zod below.
  const parse = mod.parse as (filename: string, contents: string) => Promise<unknown>;
  return (filename, contents) => parse(filename, contents);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadModel(dir: string, problems: Problems): Promise<TfModel> {
  const parse = loadHcl2Json();
  const model: TfModel = { resources: new Map(), locals: new Map(), variables: new Map(), sources: new Map() };
  const files = (await readdir(dir)).filter((f) => f.endsWith('.tf')).sort();
  if (files.length === 0) problems.add(`${dir}: no .tf files`);
  for (const file of files) {
    const text = await readFile(path.join(dir, file), 'utf8');
    model.sources.set(file, text);
    let json: unknown;
    try {
      json = await parse(file, text);
    } catch (e) {
      problems.add(`${file}: cannot be parsed as HCL: ${errorMessage(e)}`);
      continue;
    }
    const parsed = HclFileSchema.safeParse(json);
    if (!parsed.success) {
      problems.add(`${file}: unexpected hcl2json shape: ${parsed.error.message}`);
      continue;
    }
    for (const [type, byName] of Object.entries(parsed.data.resource ?? {})) {
      for (const [name, blocks] of Object.entries(byName)) {
        const address = `${type}.${name}`;
        const previous = model.resources.get(address);
        if (previous) problems.add(`${address}: declared in both ${previous.file} and ${file}`);
        model.resources.set(address, { address, type, name, file, attrs: blocks[0] ?? {} });
      }
    }
    for (const locals of parsed.data.locals ?? []) {
      for (const [key, value] of Object.entries(locals)) model.locals.set(key, value);
    }
    for (const [name, blocks] of Object.entries(parsed.data.variable ?? {})) {
      model.variables.set(name, blocks[0]?.default);
    }
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// Expressions and references.

/** A reference such as `google_pubsub_topic.dead_letter.id` or `google_service_account.runtime["api"].email`. */
interface Ref {
  readonly type: string;
  readonly name: string;
  readonly key?: string;
  /** The attribute path after the resource (`id`, `service_config[0].uri`); empty for `var.x`. */
  readonly attr: string;
}

const REF_RE = /^([a-z][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_-]*)(?:\["([^"]*)"\])?((?:\.[A-Za-z0-9_]+|\[\d+\])*)$/;

function parseRef(expression: string): Ref | undefined {
  const m = REF_RE.exec(expression.trim());
  if (!m?.[1] || !m[2]) return undefined;
  return { type: m[1], name: m[2], ...(m[3] === undefined ? {} : { key: m[3] }), attr: (m[4] ?? '').replace(/^\./, '') };
}

/** The reference when `value` is exactly one interpolation of one reference (`"${a.b.c}"`). */
function soleRef(value: unknown): Ref | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\$\{([^{}]*)\}$/.exec(value);
  return m?.[1] === undefined ? undefined : parseRef(m[1]);
}

/**
 * What an IAM member naming the same service account as `email` contains: the account's address
 * (`google_service_account.x.` or `google_service_account.runtime["k"].`, so `${x.member}` and
 * `serviceAccount:${x.email}` both match), or the literal email when it is no reference.
 */
function identityOf(email: string): string {
  const ref = soleRef(email);
  return ref ? `${ref.type}.${ref.name}${ref.key === undefined ? '' : `["${ref.key}"]`}.` : email;
}

/** Follows `${local.x}` and `${var.x}` (to its default) until a value that is neither. */
function resolve(model: TfModel, value: unknown, depth = 0): unknown {
  const ref = soleRef(value);
  if (!ref || depth > 10 || ref.key !== undefined || ref.attr !== '') return value;
  if (ref.type === 'local' && model.locals.has(ref.name)) return resolve(model, model.locals.get(ref.name), depth + 1);
  if (ref.type === 'var' && model.variables.get(ref.name) !== undefined) return resolve(model, model.variables.get(ref.name), depth + 1);
  return value;
}

/** The first (or only) nested block called `key`: hcl2json renders blocks as arrays of objects. */
function blockOf(attrs: Attrs | undefined, key: string): Attrs | undefined {
  return blocksOf(attrs, key)[0];
}

function blocksOf(attrs: Attrs | undefined, key: string): Attrs[] {
  const v = attrs?.[key];
  if (Array.isArray(v)) return v.filter(isRecord);
  return isRecord(v) ? [v] : [];
}

function literalString(model: TfModel, attrs: Attrs | undefined, key: string): string | undefined {
  const v = resolve(model, attrs?.[key]);
  return typeof v === 'string' ? v : undefined;
}

function literalNumber(model: TfModel, attrs: Attrs | undefined, key: string): number | undefined {
  const v = resolve(model, attrs?.[key]);
  if (typeof v === 'number') return v;
  return typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : undefined;
}

function stringList(model: TfModel, attrs: Attrs | undefined, key: string): string[] | undefined {
  const v = resolve(model, attrs?.[key]);
  return Array.isArray(v) && v.every((x): x is string => typeof x === 'string') ? v : undefined;
}

/** `"600s"` → 600. Pub/Sub durations are protobuf Durations: seconds with an `s` suffix. */
function parseDuration(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d+(?:\.\d+)?)s$/.exec(v);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** `"512Mi"` / `"512M"` → 512, `"2Gi"` → 2048 (topology's memoryMb is the informal MB). */
function parseMemoryMb(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d+(?:\.\d+)?)(Mi|M|Gi|G)$/.exec(v);
  if (m?.[1] === undefined) return undefined;
  return m[2]?.startsWith('G') ? Number(m[1]) * 1024 : Number(m[1]);
}

/** The resource a value references (`${type.name.attr}`), when it is of one of `types`. */
function referencedResource(model: TfModel, value: unknown, types: readonly string[]): TfBlock | undefined {
  const ref = soleRef(value);
  if (!ref || !types.includes(ref.type)) return undefined;
  return model.resources.get(`${ref.type}.${ref.name}`);
}

/** Topic name behind a topic attribute: a topic reference, a plain name or `projects/P/topics/NAME`. */
function topicNameOf(model: TfModel, value: unknown): string | undefined {
  const topic = referencedResource(model, value, ['google_pubsub_topic']);
  if (topic) return literalString(model, topic.attrs, 'name');
  const v = resolve(model, value);
  if (typeof v !== 'string') return undefined;
  const last = v.includes('/topics/') ? v.slice(v.lastIndexOf('/topics/') + '/topics/'.length) : v;
  return last.includes('${') || last.includes('/') ? undefined : last;
}

/** Members of an IAM resource (`member` of *_iam_member, `members` of *_iam_binding), as text. */
function membersOf(model: TfModel, attrs: Attrs): string[] {
  const one = literalString(model, attrs, 'member');
  return one === undefined ? (stringList(model, attrs, 'members') ?? []) : [one];
}

const PUBSUB_AGENT_RE = /google_project_service_identity\.pubsub\b|gcp-sa-pubsub\.iam\.gserviceaccount\.com/;
const STORAGE_AGENT_RE = /data\.google_storage_project_service_account\.|gs-project-accounts\.iam\.gserviceaccount\.com/;

function fmt(v: unknown): string {
  if (v === undefined) return 'not set';
  if (Array.isArray(v)) return `[${v.map(String).join(', ')}]`;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

/** Discrepancies, in insertion order, each reported once. */
type Problems = Set<string>;

/** `<kind> <name>: <field> <terraform> in terraform, <topology> in topology` when they differ. */
function compare(problems: Problems, subject: string, field: string, actual: unknown, expected: unknown, shownActual = actual, shownExpected = expected): void {
  if (actual !== expected) problems.add(`${subject}: ${field} ${fmt(shownActual)} in terraform, ${fmt(shownExpected)} in topology`);
}

/** Indexes resources of one type by their literal `name`, reporting unnamed and duplicate ones. */
function byName(model: TfModel, problems: Problems, type: string, kind: string): Map<string, TfBlock> {
  const index = new Map<string, TfBlock>();
  for (const block of model.resources.values()) {
    if (block.type !== type) continue;
    const name = literalString(model, block.attrs, 'name');
    if (name === undefined) {
      problems.add(`${block.address}: name ${fmt(block.attrs.name)} is not a literal, cannot match it to a topology ${kind}`);
      continue;
    }
    const previous = index.get(name);
    if (previous) problems.add(`${kind} ${name}: declared twice in terraform (${previous.address}, ${block.address})`);
    index.set(name, block);
  }
  return index;
}

function missingAndExtra(problems: Problems, kind: string, declared: readonly string[], inTerraform: Map<string, TfBlock>): void {
  for (const name of declared) {
    if (!inTerraform.has(name)) problems.add(`${kind} ${name}: missing in terraform`);
  }
  for (const [name, block] of inTerraform) {
    if (!declared.includes(name)) problems.add(`${kind} ${name}: in terraform (${block.address}) but not in topology`);
  }
}

function resourcesOfTypes(model: TfModel, types: readonly string[]): TfBlock[] {
  return [...model.resources.values()].filter((b) => types.includes(b.type));
}

// ---------------------------------------------------------------------------------------------
// Checks.

const TOPIC_IAM = ['google_pubsub_topic_iam_member', 'google_pubsub_topic_iam_binding'] as const;
const SUBSCRIPTION_IAM = ['google_pubsub_subscription_iam_member', 'google_pubsub_subscription_iam_binding'] as const;
/** Invoker IAM and the attribute naming the function's service in each. */
const INVOKER_IAM: Readonly<Record<string, string>> = {
  google_cloud_run_service_iam_member: 'service',
  google_cloud_run_service_iam_binding: 'service',
  google_cloud_run_v2_service_iam_member: 'name',
  google_cloud_run_v2_service_iam_binding: 'name',
  google_cloudfunctions2_function_iam_member: 'cloud_function',
  google_cloudfunctions2_function_iam_binding: 'cloud_function',
};
const INVOKER_ROLES = ['roles/run.invoker', 'roles/cloudfunctions.invoker'];

/** True when some topic IAM grant gives `role` on topic `topic` to a member matching `member`. */
function topicGrants(model: TfModel, topic: string, role: string, member: RegExp): boolean {
  return resourcesOfTypes(model, TOPIC_IAM).some(
    (b) => topicNameOf(model, b.attrs.topic) === topic && literalString(model, b.attrs, 'role') === role && membersOf(model, b.attrs).some((m) => member.test(m)),
  );
}

function checkTopics(model: TfModel, problems: Problems, topics: readonly TopicDecl[]): void {
  missingAndExtra(problems, 'topic', topics.map((t) => t.name), byName(model, problems, 'google_pubsub_topic', 'topic'));
}

/** Splits a push endpoint into the function it targets and the path after the function's URL. */
function parsePushEndpoint(model: TfModel, endpoint: string): { fn?: TfBlock; fnExpr: string; path: string } | undefined {
  const m = /^\$\{([^{}]+)\}(.*)$/.exec(endpoint);
  if (m?.[1] === undefined) return undefined;
  const ref = parseRef(m[1]);
  if (!ref || ref.type !== 'google_cloudfunctions2_function' || !['url', 'service_config[0].uri'].includes(ref.attr)) return undefined;
  // Topic names in the path may be references; the project stays as the variable expression.
  const pathText = (m[2] ?? '').replace(/\$\{([^{}]+)\}/g, (whole, inner: string) => {
    const topicRef = parseRef(inner);
    if (topicRef?.type !== 'google_pubsub_topic' || topicRef.attr !== 'name') return whole;
    return literalString(model, model.resources.get(`${topicRef.type}.${topicRef.name}`)?.attrs, 'name') ?? whole;
  });
  const fn = model.resources.get(`${ref.type}.${ref.name}`);
  return { ...(fn ? { fn } : {}), fnExpr: m[1], path: pathText };
}

function checkSubscriptions(model: TfModel, problems: Problems, subscriptions: readonly SubscriptionDecl[]): void {
  const inTerraform = byName(model, problems, 'google_pubsub_subscription', 'subscription');
  missingAndExtra(problems, 'subscription', subscriptions.map((s) => s.name), inTerraform);

  for (const decl of subscriptions) {
    const block = inTerraform.get(decl.name);
    if (!block) continue;
    const s = `subscription ${decl.name}`;
    const a = block.attrs;

    const topic = topicNameOf(model, a.topic);
    if (topic === undefined) problems.add(`${s}: topic ${fmt(a.topic)} does not resolve to a google_pubsub_topic`);
    else compare(problems, s, 'topic', topic, decl.topic);

    compare(problems, s, 'ack_deadline_seconds', literalNumber(model, a, 'ack_deadline_seconds'), decl.ackDeadlineSeconds);

    const retention = literalString(model, a, 'message_retention_duration');
    compare(problems, s, 'message_retention_duration', parseDuration(retention), decl.messageRetentionSeconds, retention, `${decl.messageRetentionSeconds}s`);

    const retry = blockOf(a, 'retry_policy');
    if (!retry) {
      problems.add(`${s}: retry_policy missing in terraform, topology has ${decl.retryPolicy.minimumBackoffSeconds}s..${decl.retryPolicy.maximumBackoffSeconds}s`);
    } else {
      for (const [field, expected] of [
        ['minimum_backoff', decl.retryPolicy.minimumBackoffSeconds],
        ['maximum_backoff', decl.retryPolicy.maximumBackoffSeconds],
      ] as const) {
        const raw = literalString(model, retry, field);
        compare(problems, s, `retry_policy.${field}`, parseDuration(raw), expected, raw, `${expected}s`);
      }
    }

    const deadLetter = blockOf(a, 'dead_letter_policy');
    if (decl.deadLetter && !deadLetter) {
      problems.add(`${s}: dead_letter_policy missing in terraform, topology dead-letters to ${decl.deadLetter.topic} after ${decl.deadLetter.maxDeliveryAttempts} attempts`);
    } else if (!decl.deadLetter && deadLetter) {
      problems.add(`${s}: dead_letter_policy in terraform, topology declares none`);
    } else if (decl.deadLetter && deadLetter) {
      const dlTopic = topicNameOf(model, deadLetter.dead_letter_topic);
      if (dlTopic === undefined) problems.add(`${s}: dead_letter_policy.dead_letter_topic ${fmt(deadLetter.dead_letter_topic)} does not resolve to a google_pubsub_topic`);
      else compare(problems, s, 'dead_letter_policy.dead_letter_topic', dlTopic, decl.deadLetter.topic);
      compare(problems, s, 'dead_letter_policy.max_delivery_attempts', literalNumber(model, deadLetter, 'max_delivery_attempts'), decl.deadLetter.maxDeliveryAttempts);

      // Without these grants Pub/Sub cannot forward to the dead-letter topic and redelivers forever.
      const subscribes = resourcesOfTypes(model, SUBSCRIPTION_IAM).some(
        (b) =>
          referencedResource(model, b.attrs.subscription, ['google_pubsub_subscription']) === block &&
          literalString(model, b.attrs, 'role') === 'roles/pubsub.subscriber' &&
          membersOf(model, b.attrs).some((m) => PUBSUB_AGENT_RE.test(m)),
      );
      if (!subscribes) problems.add(`${s}: dead-lettering needs roles/pubsub.subscriber for the Pub/Sub service agent on this subscription; terraform grants none`);
      if (!topicGrants(model, decl.deadLetter.topic, 'roles/pubsub.publisher', PUBSUB_AGENT_RE)) {
        problems.add(`topic ${decl.deadLetter.topic}: dead-lettering needs roles/pubsub.publisher for the Pub/Sub service agent on it; terraform grants none`);
      }
    }

    const push = blockOf(a, 'push_config');
    if (decl.pushFunction === undefined) {
      if (push) problems.add(`${s}: push_config in terraform, topology declares a pull subscription`);
      continue;
    }
    if (!push) {
      problems.add(`${s}: push_config missing in terraform, topology pushes to function ${decl.pushFunction}`);
      continue;
    }
    const endpoint = literalString(model, push, 'push_endpoint');
    const parsed = endpoint === undefined ? undefined : parsePushEndpoint(model, endpoint);
    if (!parsed) {
      problems.add(`${s}: push_endpoint ${fmt(push.push_endpoint)} is not "\${google_cloudfunctions2_function.<fn>.service_config[0].uri}<path>"`);
    } else {
      const target = parsed.fn ? literalString(model, parsed.fn.attrs, 'name') : undefined;
      if (target === undefined) problems.add(`${s}: push target ${parsed.fnExpr} is not a declared google_cloudfunctions2_function`);
      else compare(problems, s, 'push target function', target, decl.pushFunction);
      compare(problems, s, 'push path', parsed.path, pushPath(TERRAFORM_PROJECT_EXPR, decl.topic));
    }
    if (literalString(model, blockOf(push, 'oidc_token'), 'service_account_email') === undefined) {
      problems.add(`${s}: push_config has no oidc_token.service_account_email, so the private function ${decl.pushFunction} would reject every push`);
    }
  }
}

/** ConfigSchema keys, and those that have no default (every function must set them). */
function configKeys(): { all: Set<string>; required: string[] } {
  const shape: Readonly<Record<string, z.ZodType>> = ConfigSchema.shape;
  const all = new Set(Object.keys(shape));
  const required = Object.entries(shape)
    .filter(([, schema]) => !schema.safeParse(undefined).success)
    .map(([key]) => key);
  return { all, required };
}

/**
 * A map-valued expression as a map: a map literal, a local or variable default holding one, or
 * `merge()` of such references (later arguments win, as in terraform). Undefined for anything else.
 */
function resolveMap(model: TfModel, value: unknown, depth = 0): Attrs | undefined {
  const v = resolve(model, value);
  if (isRecord(v)) return v;
  if (typeof v !== 'string' || depth > 10) return undefined;
  const m = /^\$\{\s*merge\(([^(){}]*)\)\s*\}$/.exec(v);
  if (m?.[1] === undefined) return undefined;
  const merged: Record<string, unknown> = {};
  for (const arg of m[1].split(',').map((a) => a.trim()).filter((a) => a.length > 0)) {
    const part = resolveMap(model, `\${${arg}}`, depth + 1);
    if (!part) return undefined;
    Object.assign(merged, part);
  }
  return merged;
}

/** A value as the environment variable text terraform would set, or undefined when it is an expression. */
function envLiteral(model: TfModel, raw: unknown): string | undefined {
  const value = resolve(model, raw);
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
  const text = String(value);
  return text.includes('${') ? undefined : text;
}

/**
 * Checks one function's environment against ConfigSchema: names, required keys, each literal value
 * on its own, then the literal values together (ConfigSchema's cross-field rules, such as the
 * Document AI processor the google engine needs). Values that are expressions are only known at
 * apply time and are not judged. Returns the environment map when it could be resolved.
 */
function checkEnvironment(model: TfModel, problems: Problems, subject: string, env: unknown): Attrs | undefined {
  const resolved = resolveMap(model, env);
  if (!resolved) {
    problems.add(`${subject}: service_config.environment_variables ${fmt(env)} is not a map literal, a local holding one or merge() of such locals, so it cannot be checked`);
    return undefined;
  }
  const { all, required } = configKeys();
  const shape: Readonly<Record<string, z.ZodType>> = ConfigSchema.shape;
  for (const key of required) {
    if (!(key in resolved)) problems.add(`${subject}: environment variable ${key} is required by ConfigSchema but not set in terraform`);
  }
  const literals: Record<string, string> = {};
  const rejected = new Set<string>();
  let unresolved = false;
  for (const [key, raw] of Object.entries(resolved)) {
    if (key.endsWith('_EMULATOR_HOST')) problems.add(`${subject}: sets ${key}, which would point production at an emulator`);
    const schema = shape[key];
    if (!schema || !all.has(key)) continue;
    // Only literal values (or variable defaults) can be validated; other expressions are left to apply time.
    const text = envLiteral(model, raw);
    if (text === undefined) {
      unresolved = true;
      continue;
    }
    literals[key] = text;
    const result = schema.safeParse(text);
    if (!result.success) {
      rejected.add(key);
      problems.add(`${subject}: ${key} = ${JSON.stringify(text)} is rejected by ConfigSchema (${result.error.issues.map((i) => i.message).join('; ')})`);
    }
  }

  // The whole object: what is left after the per-key checks is a rule across keys. An issue on a key
  // set to an expression, or on a missing required key, was either unknowable or reported above.
  const whole = ConfigSchema.safeParse(literals);
  if (whole.success) return resolved;
  for (const issue of whole.error.issues) {
    const key = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
    if (key === undefined) {
      if (!unresolved) problems.add(`${subject}: the environment is rejected by ConfigSchema (${issue.message})`);
      continue;
    }
    if (rejected.has(key) || (required.includes(key) && !(key in resolved))) continue;
    if (key in literals) problems.add(`${subject}: ${key} = ${JSON.stringify(literals[key])} is rejected by ConfigSchema (${issue.message})`);
    else if (!(key in resolved)) problems.add(`${subject}: ${key} is not set in terraform, but ConfigSchema requires it (${issue.message})`);
  }
  return resolved;
}

/** The IAM role the google OCR engine's identity needs on the project (Document AI has no per-processor IAM). */
const DOCUMENTAI_ROLE = 'roles/documentai.apiUser';
const PROJECT_IAM = ['google_project_iam_member', 'google_project_iam_binding'] as const;
/** `google_document_ai_processor.<name>[<index>].<attr>` anywhere in an expression. */
const PROCESSOR_REF_RE = /\bgoogle_document_ai_processor\.([A-Za-z_][A-Za-z0-9_-]*)(?:\[[^\]]*\])?\.([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * When a function's SCRIPTORIUM_DOCUMENTAI_PROCESSOR comes from a processor terraform declares: that
 * processor exists, is an OCR processor, is referenced by its full resource name (`id`), its API is
 * enabled, and the function's service account may call it. A literal processor name (one managed
 * elsewhere) is not followed.
 */
function checkDocumentAi(model: TfModel, problems: Problems, subject: string, env: Attrs, service: Attrs | undefined): void {
  const raw = env.SCRIPTORIUM_DOCUMENTAI_PROCESSOR;
  if (typeof raw !== 'string') return;
  const refs = [...raw.matchAll(PROCESSOR_REF_RE)];
  if (refs.length === 0) return;
  for (const [, name, attr] of refs) {
    const address = `google_document_ai_processor.${name ?? ''}`;
    const processor = model.resources.get(address);
    if (!processor) {
      problems.add(`${subject}: SCRIPTORIUM_DOCUMENTAI_PROCESSOR references ${address}, which terraform does not declare`);
      continue;
    }
    const type = literalString(model, processor.attrs, 'type');
    if (type !== 'OCR_PROCESSOR') problems.add(`${address}: type ${fmt(type ?? processor.attrs.type)}, the google OCR engine needs OCR_PROCESSOR`);
    if (attr !== 'id') {
      problems.add(`${subject}: SCRIPTORIUM_DOCUMENTAI_PROCESSOR uses ${address}.${attr ?? ''}; ConfigSchema needs the full resource name projects/P/locations/L/processors/ID, which is the processor's id attribute`);
    }
  }
  if (!enablesApi(model, 'documentai.googleapis.com')) {
    problems.add(`${subject}: uses a Document AI processor, but terraform never enables documentai.googleapis.com`);
  }
  checkProjectGrant(model, problems, subject, 'uses a Document AI processor', service, DOCUMENTAI_ROLE);
}

/** True when the API's service name appears as a string literal somewhere in terraform (apis.tf lists them). */
function enablesApi(model: TfModel, api: string): boolean {
  return [...model.sources.values()].some((text) => text.includes(`"${api}"`));
}

/**
 * Reports when the service account a function runs as (`service_account_email` of its
 * service_config, a reference to a declared account) holds no project-level grant of `role`.
 * `uses` says why the role is needed, as the start of each message.
 */
function checkProjectGrant(model: TfModel, problems: Problems, subject: string, uses: string, service: Attrs | undefined, role: string): void {
  const email = literalString(model, service, 'service_account_email');
  const ref = email === undefined ? undefined : soleRef(email);
  if (email === undefined || !ref) {
    problems.add(`${subject}: ${uses} but runs as ${fmt(email)}, not a service account terraform declares, so its ${role} grant cannot be checked`);
    return;
  }
  const identity = identityOf(email);
  const granted = resourcesOfTypes(model, PROJECT_IAM).some(
    (b) => literalString(model, b.attrs, 'role') === role && membersOf(model, b.attrs).some((m) => m.includes(identity)),
  );
  if (!granted) problems.add(`${subject}: ${uses}, but its service account ${email} is not granted ${role} (every request would fail with PERMISSION_DENIED)`);
}

const VERTEX_API = 'aiplatform.googleapis.com';
const VERTEX_ROLE = 'roles/aiplatform.user';

/**
 * Engines that call a Google API when set to `google`: the API they need enabled and the role their
 * function's identity needs on the project. Each is granted project-wide because what it calls has
 * no IAM of its own (Google's Vertex AI publisher models; Speech-to-Text's implicit recognizer `_`).
 */
const GOOGLE_ENGINES: readonly { readonly key: string; readonly what: string; readonly api: string; readonly role: string }[] = [
  { key: 'SCRIPTORIUM_EMBEDDING_ENGINE', what: 'Vertex AI embeddings', api: VERTEX_API, role: VERTEX_ROLE },
  { key: 'SCRIPTORIUM_SUMMARY_ENGINE', what: 'Gemini on Vertex AI', api: VERTEX_API, role: VERTEX_ROLE },
  { key: 'SCRIPTORIUM_STT_ENGINE', what: 'Speech-to-Text v2', api: 'speech.googleapis.com', role: 'roles/speech.client' },
  { key: 'SCRIPTORIUM_TRANSLATE_ENGINE', what: 'Cloud Translation v3', api: 'translate.googleapis.com', role: 'roles/cloudtranslate.user' },
];

/**
 * When a function's engine setting is `google` as terraform deploys it by default (a literal or a
 * variable default), that function calls the engine's Google API: the API must be enabled and its
 * service account granted the engine's role. An engine set by an expression is left to apply time,
 * as other values are.
 */
function checkGoogleEngines(model: TfModel, problems: Problems, subject: string, env: Attrs, service: Attrs | undefined): void {
  for (const { key, what, api, role } of GOOGLE_ENGINES) {
    if (envLiteral(model, env[key]) !== 'google') continue;
    const uses = `${key} is google (${what})`;
    if (!enablesApi(model, api)) problems.add(`${subject}: ${uses}, but terraform never enables ${api}`);
    checkProjectGrant(model, problems, subject, uses, service, role);
  }
}

function checkFunctions(model: TfModel, problems: Problems, functions: readonly FunctionDecl[], subscriptions: readonly SubscriptionDecl[]): void {
  const inTerraform = byName(model, problems, 'google_cloudfunctions2_function', 'function');
  missingAndExtra(problems, 'function', functions.map((f) => f.name), inTerraform);

  const invokers = Object.keys(INVOKER_IAM).flatMap((type) =>
    resourcesOfTypes(model, [type]).map((b) => ({ block: b, target: b.attrs[INVOKER_IAM[type] ?? ''] })),
  );
  const scheduled = schedulerJobs(model);

  for (const decl of functions) {
    const block = inTerraform.get(decl.name);
    if (!block) continue;
    const f = `function ${decl.name}`;
    const build = blockOf(block.attrs, 'build_config');
    const service = blockOf(block.attrs, 'service_config');
    if (!build) problems.add(`${f}: build_config missing in terraform`);
    if (!service) problems.add(`${f}: service_config missing in terraform`);

    compare(problems, f, 'entry_point', literalString(model, build, 'entry_point'), decl.entryPoint);
    const runtime = literalString(model, build, 'runtime');
    if (build && runtime !== FUNCTION_RUNTIME) problems.add(`${f}: runtime ${fmt(runtime)} in terraform, ${FUNCTION_RUNTIME} expected (package.json engines)`);

    const memory = literalString(model, service, 'available_memory');
    compare(problems, f, 'available_memory', parseMemoryMb(memory), decl.memoryMb, memory, `${decl.memoryMb} MB`);
    compare(problems, f, 'timeout_seconds', literalNumber(model, service, 'timeout_seconds'), decl.timeoutSeconds);
    // Instances and per-instance concurrency bound the load on the Google engines' quotas (see
    // shared/engines/throttle.ts): declared in the topology, they must be what terraform deploys.
    if (decl.maxInstances !== undefined) compare(problems, f, 'max_instance_count', literalNumber(model, service, 'max_instance_count'), decl.maxInstances);
    if (decl.concurrency !== undefined) compare(problems, f, 'max_instance_request_concurrency', literalNumber(model, service, 'max_instance_request_concurrency') ?? 1, decl.concurrency);
    const env = service ? checkEnvironment(model, problems, f, service.environment_variables) : undefined;
    if (env) {
      checkDocumentAi(model, problems, f, env, service);
      checkGoogleEngines(model, problems, f, env, service);
    }

    const eventTrigger = blockOf(block.attrs, 'event_trigger');
    if (eventTrigger && decl.trigger === 'pubsub') {
      problems.add(`${f}: has an event_trigger, but topology delivers to it through push subscriptions (every message would arrive twice)`);
    } else if (eventTrigger) {
      problems.add(`${f}: has an event_trigger, but its topology trigger is ${decl.trigger}`);
    }

    const members = invokers
      .filter((i) => referencedResource(model, i.target, ['google_cloudfunctions2_function']) === block && INVOKER_ROLES.includes(literalString(model, i.block.attrs, 'role') ?? ''))
      .flatMap((i) => membersOf(model, i.block.attrs));
    const isPublic = members.some((m) => m === 'allUsers' || m === 'allAuthenticatedUsers');
    if (decl.trigger === 'http' && !isPublic) {
      problems.add(`${f}: trigger http but terraform grants no allUsers invoker (clients could not reach it; it verifies Firebase ID tokens itself)`);
    }
    if (decl.trigger === 'pubsub' && isPublic) {
      problems.add(`${f}: trigger pubsub but terraform makes it public (allUsers invoker); only the push identity may invoke it`);
    }
    if (decl.trigger === 'scheduled') {
      const everyone = members.find((m) => m === 'allUsers' || m === 'allAuthenticatedUsers');
      if (everyone !== undefined) problems.add(`${f}: trigger scheduled but terraform makes it public (${everyone} invoker); only the scheduler identity may invoke it`);
      checkSchedulerJobs(model, problems, decl, block, scheduled.filter((j) => j.fn === block), members);
    }
    if (decl.trigger !== 'pubsub') continue;
    for (const sub of subscriptions.filter((x) => x.pushFunction === decl.name)) {
      const subBlock = resourcesOfTypes(model, ['google_pubsub_subscription']).find((b) => literalString(model, b.attrs, 'name') === sub.name);
      const email = literalString(model, blockOf(blockOf(subBlock?.attrs, 'push_config'), 'oidc_token'), 'service_account_email');
      if (email === undefined) continue; // reported with the subscription
      // The member must name the same identity: `serviceAccount:${x.email}`, `${x.member}` or the literal address.
      if (!members.some((m) => m.includes(identityOf(email)))) {
        problems.add(`${f}: push identity ${email} of subscription ${sub.name} is not granted roles/run.invoker on it`);
      }
    }
  }

  // Scheduler jobs the topology does not explain: each would call something nobody declared a schedule for.
  for (const job of scheduled) {
    const target = job.fn ? literalString(model, job.fn.attrs, 'name') : undefined;
    const decl = functions.find((d) => d.name === target);
    if (!job.fn) {
      problems.add(`scheduler job ${job.block.address}: http_target.uri ${fmt(job.uri ?? blockOf(job.block.attrs, 'http_target')?.uri)} is not "\${google_cloudfunctions2_function.<fn>.service_config[0].uri}" of a declared function, and topology schedules nothing else`);
    } else if (decl && decl.trigger !== 'scheduled') {
      problems.add(`scheduler job ${job.block.address}: calls function ${decl.name}, whose topology trigger is ${decl.trigger}, not scheduled`);
    }
  }
}

/** A google_cloud_scheduler_job and the function its http_target calls (when it is one terraform declares). */
interface SchedulerJob {
  readonly block: TfBlock;
  readonly uri: string | undefined;
  readonly fn: TfBlock | undefined;
}

/** Every scheduler job, with the function its `http_target.uri` references (`url` or `service_config[0].uri`, any path after it). */
function schedulerJobs(model: TfModel): SchedulerJob[] {
  return resourcesOfTypes(model, ['google_cloud_scheduler_job']).map((block) => {
    const uri = literalString(model, blockOf(block.attrs, 'http_target'), 'uri');
    return { block, uri, fn: uri === undefined ? undefined : parsePushEndpoint(model, uri)?.fn };
  });
}

/** Cloud Scheduler's attempt deadline for HTTP targets when a job sets none (API reference, Job.attemptDeadline). */
const SCHEDULER_DEFAULT_ATTEMPT_DEADLINE_SECONDS = 180;

/**
 * A scheduled function must be called by exactly one scheduler job: on the topology's schedule, with
 * POST (the function refuses other methods), an OIDC token (Cloud Run rejects calls without one to a
 * private service) for an identity granted run.invoker on it (`members`), whose audience, if set, is
 * the function's URL, and an attempt deadline no shorter than the function's timeout (else the
 * scheduler gives up on a run still going and its retry overlaps it).
 */
function checkSchedulerJobs(model: TfModel, problems: Problems, decl: FunctionDecl, fn: TfBlock, jobs: readonly SchedulerJob[], members: readonly string[]): void {
  const f = `function ${decl.name}`;
  if (decl.schedule === undefined) problems.add(`${f}: trigger scheduled but topology declares no schedule for it`);
  if (jobs.length === 0) {
    problems.add(`${f}: trigger scheduled but no google_cloud_scheduler_job calls it (http_target.uri = \${${fn.address}.service_config[0].uri}); nothing would ever run it`);
    return;
  }
  if (jobs.length > 1) problems.add(`${f}: called by ${jobs.length} scheduler jobs (${jobs.map((j) => j.block.address).join(', ')}); topology declares one schedule`);
  for (const job of jobs) {
    const j = `${f}: scheduler job ${job.block.address}`;
    const a = job.block.attrs;
    if (decl.schedule !== undefined) compare(problems, j, 'schedule', literalString(model, a, 'schedule'), decl.schedule);
    const target = blockOf(a, 'http_target');
    const method = literalString(model, target, 'http_method');
    // Unset is POST, the API's default for HTTP targets.
    if (method !== undefined && method.toUpperCase() !== 'POST') problems.add(`${j}: http_method ${method}, but the function answers only POST (405 otherwise)`);

    const deadlineRaw = literalString(model, a, 'attempt_deadline');
    const deadline = deadlineRaw === undefined ? SCHEDULER_DEFAULT_ATTEMPT_DEADLINE_SECONDS : parseDuration(deadlineRaw);
    if (deadline === undefined) problems.add(`${j}: attempt_deadline ${fmt(deadlineRaw)} is not a duration in seconds ("150s")`);
    else if (deadline < decl.timeoutSeconds) {
      problems.add(`${j}: attempt_deadline ${deadline}s is shorter than the function's ${decl.timeoutSeconds}s timeout (the scheduler would give up on a run still going, and its retry would overlap it)`);
    }

    const oidc = blockOf(target, 'oidc_token');
    const email = literalString(model, oidc, 'service_account_email');
    if (email === undefined) {
      problems.add(`${j}: http_target has no oidc_token.service_account_email, so the private function would reject every call`);
      continue;
    }
    if (!members.some((m) => m.includes(identityOf(email)))) problems.add(`${j}: its identity ${email} is not granted roles/run.invoker on the function`);
    const audience = literalString(model, oidc, 'audience');
    if (audience !== undefined) {
      const ref = soleRef(audience);
      const isFunctionUrl = ref !== undefined && model.resources.get(`${ref.type}.${ref.name}`) === fn && ['url', 'service_config[0].uri'].includes(ref.attr);
      if (!isFunctionUrl) problems.add(`${j}: oidc_token.audience ${audience} is not the function's URL (${fn.address}.service_config[0].uri); Cloud Run would reject the token`);
    }
  }
}

function checkBuckets(model: TfModel, problems: Problems, buckets: readonly (BucketDecl & { readonly name: BucketName })[]): void {
  const inTerraform = byName(model, problems, 'google_storage_bucket', 'bucket');
  const expectedNames = new Map(buckets.map((b) => [bucketName(TERRAFORM_PROJECT_EXPR, b.name), b] as const));
  for (const [name, block] of inTerraform) {
    if (!expectedNames.has(name) && !DEPLOYMENT_ONLY_BUCKETS.includes(name)) problems.add(`bucket ${name}: in terraform (${block.address}) but not in topology`);
  }

  const notifications = resourcesOfTypes(model, ['google_storage_notification']).map((block) => {
    const bucket = referencedResource(model, block.attrs.bucket, ['google_storage_bucket']);
    return { block, bucket: bucket ? literalString(model, bucket.attrs, 'name') : literalString(model, block.attrs, 'bucket'), topic: topicNameOf(model, block.attrs.topic) };
  });
  const used = new Set<TfBlock>();

  for (const [realName, decl] of expectedNames) {
    const b = `bucket ${decl.name}`;
    const block = inTerraform.get(realName);
    if (!block) {
      problems.add(`${b}: missing in terraform (no google_storage_bucket named "${realName}")`);
      continue;
    }
    if (resolve(model, block.attrs.uniform_bucket_level_access) !== true) problems.add(`${b}: uniform_bucket_level_access is not true in terraform`);

    const cors = blocksOf(block.attrs, 'cors');
    compare(problems, b, 'number of cors entries', cors.length, decl.cors.length);
    decl.cors.forEach((expected, i) => {
      const actual = cors[i];
      if (!actual) return;
      for (const [field, want] of [
        ['origin', expected.origin],
        ['method', expected.method],
        ['response_header', expected.responseHeader],
      ] as const) {
        const got = stringList(model, actual, field);
        if (!got || !sameSet(got, want)) problems.add(`${b}: cors[${i}].${field} ${fmt(got ?? actual[field])} in terraform, ${fmt(want)} in topology`);
      }
      compare(problems, b, `cors[${i}].max_age_seconds`, literalNumber(model, actual, 'max_age_seconds'), expected.maxAgeSeconds);
    });

    for (const n of decl.notifications) {
      const candidates = notifications.filter((x) => x.bucket === realName && x.topic === n.topic && !used.has(x.block));
      const match = candidates.find((x) => literalString(model, x.block.attrs, 'object_name_prefix') === n.objectNamePrefix) ?? candidates[0];
      const subject = `${b}: notification to topic ${n.topic}`;
      if (!match) {
        problems.add(`${subject} missing in terraform`);
        continue;
      }
      used.add(match.block);
      const a = match.block.attrs;
      const events = stringList(model, a, 'event_types');
      if (!events || !sameSet(events, n.eventTypes)) problems.add(`${subject}: event_types ${fmt(events ?? a.event_types)} in terraform, ${fmt(n.eventTypes)} in topology`);
      compare(problems, subject, 'object_name_prefix', literalString(model, a, 'object_name_prefix'), n.objectNamePrefix);
      compare(problems, subject, 'payload_format', literalString(model, a, 'payload_format'), n.payloadFormat);
      if (!topicGrants(model, n.topic, 'roles/pubsub.publisher', STORAGE_AGENT_RE)) {
        problems.add(`${subject}: needs roles/pubsub.publisher for the Cloud Storage service agent on that topic; terraform grants none`);
      }
    }
  }

  for (const n of notifications) {
    if (used.has(n.block)) continue;
    problems.add(`notification ${n.block.address} (bucket ${fmt(n.bucket)}, topic ${fmt(n.topic)}): in terraform but not in topology`);
  }
}

/** Any SCRIPTORIUM_* identifier anywhere in terraform (env maps, locals, comments) must be a config key. */
function checkConfigNames(model: TfModel, problems: Problems): void {
  const { all } = configKeys();
  for (const [file, text] of model.sources) {
    for (const m of text.matchAll(/\bSCRIPTORIUM_[A-Z0-9_]+\b/g)) {
      if (!all.has(m[0])) problems.add(`${file}: ${m[0]} is not a key of ConfigSchema (shared/config/index.ts)`);
    }
  }
}

/**
 * Parses every `.tf` file in `dir` and returns the discrepancies with `topology` (and with
 * `ConfigSchema` for environment variables); an empty list means terraform and topology agree.
 */
export async function checkTerraform(dir: string): Promise<string[]> {
  const problems: Problems = new Set();
  const model = await loadModel(dir, problems);
  // Widened once here: the `as const` topology is a union per element, the checks read the declared shapes.
  const subscriptions: readonly SubscriptionDecl[] = topology.subscriptions;
  const buckets: readonly (BucketDecl & { readonly name: BucketName })[] = topology.buckets;
  checkTopics(model, problems, topology.topics);
  checkSubscriptions(model, problems, subscriptions);
  checkFunctions(model, problems, topology.functions, subscriptions);
  checkBuckets(model, problems, buckets);
  checkConfigNames(model, problems);
  return [...problems];
}

/**
 * The repository's `terraform/` directory, found by walking up from `from` (this module's folder by
 * default) so it works from sources and from the compiled `dist/` alike.
 */
export function findTerraformDir(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'terraform'))) return path.join(dir, 'terraform');
    if (path.dirname(dir) === dir) throw new Error(`no terraform/ directory above ${from}`);
  }
}

/** Result of `terraform fmt -check`: `available` is false when no terraform binary is installed. */
export interface FmtResult {
  readonly available: boolean;
  readonly ok: boolean;
  /** Files terraform would reformat (its stdout) or the error it printed. */
  readonly output: string;
}

/** Runs `terraform fmt -check -recursive <dir>`. */
export function terraformFmtCheck(dir: string): FmtResult {
  const run = spawnSync('terraform', ['fmt', '-check', '-recursive', dir], { encoding: 'utf8' });
  if (run.error) {
    const missing = 'code' in run.error && run.error.code === 'ENOENT';
    return { available: !missing, ok: false, output: errorMessage(run.error) };
  }
  // stderr also carries unrelated CLI-configuration warnings; only show it on failure.
  return { available: true, ok: run.status === 0, output: run.status === 0 ? run.stdout : `${run.stdout}${run.stderr}` };
}
