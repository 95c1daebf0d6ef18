// The eqm MQTT wire contract as a module other node scripts import: which schema a topic's
// payload follows, and a validator that checks a payload against it (schemas/*.schema.json plus
// the few cross-field rules JSON Schema cannot express).
//
//   import { create_contract, schema_for_topic } from '<repo>/tests/contract/contract.mjs';
//   const contract = create_contract();
//   const r = contract.validate_message('eqm/v1/dev/cam-1/state', payload);
//   if (!r.valid) console.log(contract.describe_errors(r.errors));
import Ajv2020 from 'ajv/dist/2020.js';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/// schemas/ of this checkout, found relative to this file so no absolute path is baked in.
export const default_schemas_dir = fileURLToPath(new URL('../../schemas/', import.meta.url));

/// Every schema's $id is this prefix plus the file's base name.
export const schema_id_prefix = 'urn:eqm:schema:';

/// Topic segments: ids and city codes follow the same patterns as inside payloads, so a topic
/// with a malformed id is an unknown topic rather than a silently accepted one.
const id_segment = '[A-Za-z0-9_-]{1,64}';
const city_segment = '[0-9]{6}';

function route(filter, schema) {
    const source = filter
        .split('/')
        .map((part) => (part === '+' ? `(${filter.startsWith('eqm/v1/city/') ? city_segment : id_segment})` : part))
        .join('/');
    return { filter, schema, regex: new RegExp(`^${source}$`) };
}

/// MQTT topic filter -> payload schema name (ARCHITECTURE.md, "MQTT contract").
export const topic_routes = Object.freeze([
    route('eqm/v1/dev/+/state', 'device_state'),
    route('eqm/v1/dev/+/telemetry', 'device_telemetry'),
    route('eqm/v1/dev/+/event', 'device_event'),
    route('eqm/v1/dev/+/cmd', 'device_cmd'),
    route('eqm/v1/dock/+/event', 'dock_event'),
    route('eqm/v1/ack/+', 'ack'),
    route('eqm/v1/city/+/gw/state', 'gw_state'),
    route('eqm/v1/city/+/gw/events', 'gw_events'),
    route('eqm/v1/city/+/srv/ack', 'srv_ack'),
    route('eqm/v1/city/+/srv/cmd', 'srv_cmd'),
]);

/// The schemas that are whole MQTT payloads (the others are shared parts they $ref).
export const payload_schemas = Object.freeze(topic_routes.map((r) => r.schema));

/// Size limits in bytes of the serialised payload (docs/contracts.md, "Common rules").
export const max_payload_bytes = 256 * 1024;
export const max_gw_events_bytes = 4 * 1024 * 1024;

/// The payload schema for a concrete topic, or null when the topic is not part of the contract.
export function schema_for_topic(topic) {
    if (typeof topic !== 'string') return null;
    const hit = topic_routes.find((r) => r.regex.test(topic));
    return hit ? hit.schema : null;
}

/// Cross-field rules of docs/contracts.md that JSON Schema cannot state. Each returns errors in
/// ajv's shape ({keyword, instancePath, message}) so callers treat both kinds alike. They run only
/// on payloads that already passed the schema, so they may trust the shape.
const cross_field_rules = {
    ack(payload) {
        const errors = [];
        const ids = new Set(payload.event_ids);
        for (const id of payload.event_ids) {
            if (!Object.hasOwn(payload.results, id)) {
                errors.push({ keyword: 'eqm_ack_results', instancePath: '/results',
                    message: `event id "${id}" is in event_ids but has no result` });
            }
        }
        for (const id of Object.keys(payload.results)) {
            if (!ids.has(id)) {
                errors.push({ keyword: 'eqm_ack_results', instancePath: `/results/${id}`,
                    message: `result for "${id}", which is not in event_ids` });
            }
        }
        return errors;
    },
    gw_events(payload) {
        const errors = [];
        let previous = 0;
        payload.events.forEach((event, i) => {
            if (event.seq <= previous) {
                errors.push({ keyword: 'eqm_seq_order', instancePath: `/events/${i}/seq`,
                    message: `seq ${event.seq} does not increase (previous ${previous})` });
            }
            previous = event.seq;
            const expected = `${payload.gw_id}-${event.seq}`;
            if (event.msg_id !== expected) {
                errors.push({ keyword: 'eqm_msg_id', instancePath: `/events/${i}/msg_id`,
                    message: `msg_id "${event.msg_id}" must be "${expected}" ({gw_id}-{seq})` });
            }
        });
        return errors;
    },
    device_telemetry(payload) {
        if (payload.slots_total !== undefined && payload.slots_occupied !== undefined &&
            payload.slots_occupied > payload.slots_total) {
            return [{ keyword: 'eqm_slots', instancePath: '/slots_occupied',
                message: `slots_occupied ${payload.slots_occupied} exceeds slots_total ${payload.slots_total}` }];
        }
        return [];
    },
};

function read_json(file) {
    return JSON.parse(readFileSync(file, 'utf8'));
}

/// Loads every schemas/*.schema.json into one strict Ajv (draft 2020-12) and returns the
/// validator. Throws when a schema is unreadable, misnamed or does not compile in strict mode:
/// that is a defect of the contract itself, not of a payload.
export function create_contract({ schemas_dir = default_schemas_dir } = {}) {
    const warnings = [];
    const ajv = new Ajv2020({
        strict: true,       // unknown keywords, missing types, undefined required props all throw
        allErrors: true,    // report every violation so an expected keyword is found among them
        logger: { log: () => {}, warn: (...a) => warnings.push(a.join(' ')), error: (...a) => warnings.push(a.join(' ')) },
    });

    const schemas = new Map();
    const files = readdirSync(schemas_dir).filter((f) => f.endsWith('.schema.json')).sort();
    for (const file of files) {
        const name = file.slice(0, -'.schema.json'.length);
        const schema = read_json(path.join(schemas_dir, file));
        if (schema.$id !== schema_id_prefix + name) {
            throw new Error(`${file}: $id is "${schema.$id}", expected "${schema_id_prefix}${name}"`);
        }
        if (schema.$schema !== 'https://json-schema.org/draft/2020-12/schema') {
            throw new Error(`${file}: $schema must be draft 2020-12`);
        }
        schemas.set(name, schema);
        ajv.addSchema(schema);
    }
    for (const name of payload_schemas) {
        if (!schemas.has(name)) throw new Error(`schema ${name}.schema.json is missing`);
    }

    // Compile everything now, so a strict-mode defect in any schema (even one only $ref'd) fails here.
    const validators = new Map();
    for (const name of schemas.keys()) {
        try {
            validators.set(name, ajv.getSchema(schema_id_prefix + name));
        } catch (e) {
            throw new Error(`${name}.schema.json does not compile in strict mode: ${e.message}`);
        }
        if (warnings.length > 0) {
            throw new Error(`${name}.schema.json: ajv warned: ${warnings.join('; ')}`);
        }
    }

    /// Validates a payload against a schema by name: {valid, errors}.
    function validate(name, payload) {
        const fn = validators.get(name);
        if (!fn) {
            return { valid: false, errors: [{ keyword: 'eqm_schema', instancePath: '', message: `no schema named ${name}` }] };
        }
        if (!fn(payload)) return { valid: false, errors: fn.errors.map((e) => ({ ...e })) };
        const limit = name === 'gw_events' ? max_gw_events_bytes : max_payload_bytes;
        const size = Buffer.byteLength(JSON.stringify(payload), 'utf8');
        if (payload_schemas.includes(name) && size > limit) {
            return { valid: false, errors: [{ keyword: 'eqm_size', instancePath: '', message: `${size} bytes exceeds ${limit}` }] };
        }
        const errors = cross_field_rules[name] ? cross_field_rules[name](payload) : [];
        return { valid: errors.length === 0, errors };
    }

    /// Validates one MQTT message: {valid, schema (name or null), errors}.
    function validate_message(topic, payload) {
        const name = schema_for_topic(topic);
        if (!name) {
            return { valid: false, schema: null,
                errors: [{ keyword: 'eqm_topic', instancePath: '', message: `unknown topic "${topic}"` }] };
        }
        return { schema: name, ...validate(name, payload) };
    }

    /// One line per error: "<instancePath> <keyword>: <message>".
    function describe_errors(errors) {
        return errors.map((e) => {
            const extra = e.params?.additionalProperty ?? e.params?.unevaluatedProperty ?? e.params?.missingProperty;
            return `${e.instancePath || '/'} ${e.keyword}: ${e.message}${extra !== undefined ? ` (${extra})` : ''}`;
        });
    }

    return { ajv, schemas, schema_names: [...schemas.keys()], validate, validate_message, describe_errors };
}
