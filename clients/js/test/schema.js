// Validators for protocol/asyncapi.yaml: every message the broker sends to
// the client under test (`subscribe`) and every message the client sends
// (`publish`) is checked against the document's JSON Schemas. A message type
// the document does not list is itself a violation, so the document and the
// broker cannot drift apart without a test failing.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Ajv from 'ajv';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { repoRoot } from '../../../tests/support/broker.js';

export const asyncapi = parse(readFileSync(join(repoRoot, 'protocol', 'asyncapi.yaml'), 'utf8'));

function messageNames(operation) {
  return operation.message.oneOf.map((m) => m.$ref.replace('#/components/messages/', ''));
}

const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
// The document root is not a JSON Schema: only its components are compiled.
ajv.addKeyword('components');
ajv.addSchema({ $id: 'asyncapi', components: asyncapi.components });

function validators(operation) {
  const out = new Map();
  for (const name of messageNames(operation)) {
    out.set(name, ajv.compile({ $ref: `asyncapi#/components/messages/${name}/payload` }));
  }
  return out;
}

const channel = asyncapi.channels['/ws'];
const incoming = validators(channel.subscribe);
const outgoing = validators(channel.publish);

/** Checks messages and remembers what it saw and what was wrong. */
export class SchemaChecker {
  constructor() {
    this.violations = [];
    this.seen = { subscribe: new Set(), publish: new Set() };
  }
  check(direction, msg) {
    const table = direction === 'subscribe' ? incoming : outgoing;
    const validate = table.get(msg?.type);
    if (!validate) {
      this.violations.push({ direction, msg, errors: `type ${JSON.stringify(msg?.type)} is not in asyncapi.yaml` });
      return;
    }
    this.seen[direction].add(msg.type);
    if (!validate(msg)) this.violations.push({ direction, msg, errors: ajv.errorsText(validate.errors) });
  }
  /** Removes and returns the violations matching `predicate` (a test that sends a bad message on purpose). */
  take(predicate) {
    const taken = this.violations.filter(predicate);
    this.violations = this.violations.filter((v) => !taken.includes(v));
    return taken;
  }
  /** A `ws` WebSocket class whose outgoing frames are checked. */
  webSocketClass() {
    const checker = this;
    return class CheckedWebSocket extends WebSocket {
      send(data, ...rest) {
        checker.check('publish', JSON.parse(data));
        return super.send(data, ...rest);
      }
    };
  }
  /** Attaches the check of incoming messages to a PossyncClient. */
  watch(client) {
    client.on('message', (msg) => this.check('subscribe', msg));
    return client;
  }
}

/**
 * Errors of asyncapi.yaml as an AsyncAPI 2.6 document (the specification's
 * own JSON Schema, from @asyncapi/specs), or null when it is valid.
 */
export function documentErrors() {
  const spec = createRequire(import.meta.url)('@asyncapi/specs').schemas['2.6.0'];
  // The spec bundles its own copy of the draft-07 meta-schema.
  const specAjv = new Ajv({ meta: false, validateSchema: false, strict: false, allErrors: true, validateFormats: false });
  const validate = specAjv.compile(spec);
  return validate(asyncapi) ? null : specAjv.errorsText(validate.errors);
}

export const subscribeTypes = messageNames(channel.subscribe);
export const publishTypes = messageNames(channel.publish);
