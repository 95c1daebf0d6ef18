// Checks recorded REST exchanges against the OpenAPI 3.1 document the server served, with
// @hyperjump/json-schema (a validator that implements OpenAPI 3.1 and its JSON Schema 2020-12
// dialect): first the document itself against the OpenAPI 3.1 schema, then every answer.
//
//   node openapi_answers.mjs [--document FILE] DIR|FILE.jsonl ...
//
// Each line of a record is {method, target, status, content_type, body} (body as text). The
// document is the body of a recorded `GET /api/v1/openapi.json`; every copy must be the same
// (`--document FILE` takes it from a file instead: for the checker's own test).
// An answer passes when its operation exists (path template and method), its status is
// documented (exactly, as NXX, or default), its content type is one the response lists (or it
// has no body and the response no content), and its body validates against that schema.
// Exit 0 only when every answer passes; each failure prints the exchange and the errors.
import { validate } from '@hyperjump/json-schema/openapi-3-1';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const document_path = '/api/v1/openapi.json';

function read_exchanges(args) {
    const files = [];
    for (const a of args) {
        if (statSync(a).isDirectory()) {
            for (const f of readdirSync(a).sort()) if (f.endsWith('.jsonl')) files.push(path.join(a, f));
        } else {
            files.push(a);
        }
    }
    const out = [];
    for (const f of files) {
        for (const line of readFileSync(f, 'utf8').split('\n')) {
            if (line.trim() !== '') out.push(JSON.parse(line));
        }
    }
    return out;
}

/// The path template of the document that `target` (path and query) matches, or null.
function match_path(paths, target) {
    const path_only = target.split('?')[0];
    const parts = path_only.split('/');
    for (const template of Object.keys(paths)) {
        const t = template.split('/');
        if (t.length !== parts.length) continue;
        if (t.every((seg, i) => (seg.startsWith('{') && seg.endsWith('}') ? parts[i] !== '' : seg === parts[i])))
            return template;
    }
    return null;
}

function pointer(...segments) {
    return segments.map((s) => encodeURIComponent(String(s).replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');
}

function media_type(content_type) {
    return (content_type ?? '').split(';')[0].trim().toLowerCase();
}

const validators = new Map();

async function check(doc, doc_uri, x) {
    const template = match_path(doc.paths ?? {}, x.target);
    if (!template) return [`no path of the document matches ${x.target}`];
    const method = x.method.toLowerCase();
    const operation = doc.paths[template][method];
    if (!operation) return [`${template} has no ${method} operation`];
    const responses = operation.responses ?? {};
    const status = String(x.status);
    const key = [status, `${status[0]}XX`, 'default'].find((k) => k in responses);
    if (!key) return [`status ${status} is not documented for ${x.method} ${template}`];
    let response = responses[key];
    let base = ['paths', template, method, 'responses', key];
    if (response.$ref) {
        const name = response.$ref.replace('#/components/responses/', '');
        response = doc.components.responses[name];
        base = ['components', 'responses', name];
    }
    const content = response.content ?? {};
    if (x.body === '' && Object.keys(content).length === 0) return [];
    const type = media_type(x.content_type);
    if (!(type in content))
        return [`content type "${x.content_type}" is not one of ${JSON.stringify(Object.keys(content))} for ${status}`];
    const schema = content[type].schema;
    if (!schema) return [];
    let value = x.body;
    if (type === 'application/json' || type.endsWith('+json')) {
        try {
            value = JSON.parse(x.body);
        } catch {
            return [`the body is not JSON: ${x.body.slice(0, 200)}`];
        }
    }
    const uri = `${doc_uri}#/${pointer(...base, 'content', type, 'schema')}`;
    if (!validators.has(uri)) validators.set(uri, await validate(uri));
    const output = validators.get(uri)(value, 'BASIC');
    if (output.valid) return [];
    return (output.errors ?? []).map((e) => `${e.instanceLocation}: fails ${e.absoluteKeywordLocation.replace(doc_uri, '')}`);
}

async function main() {
    const args = process.argv.slice(2);
    let document_file = null;
    if (args[0] === '--document') {
        document_file = args[1];
        args.splice(0, 2);
    }
    if (args.length === 0) {
        console.error('usage: node openapi_answers.mjs [--document FILE] DIR|FILE.jsonl ...');
        process.exit(2);
    }
    const exchanges = read_exchanges(args);
    const served = document_file
        ? [readFileSync(document_file, 'utf8')]
        : [...new Set(exchanges.filter((x) => x.method === 'GET' && x.target === document_path && x.status === 200).map((x) => x.body))];
    if (served.length !== 1) {
        console.error(`expected one served OpenAPI document among the exchanges, found ${served.length}`);
        process.exit(1);
    }
    const doc = JSON.parse(served[0]);
    const dir = mkdtempSync(path.join(tmpdir(), 'eqm-openapi-'));
    try {
        const file = path.join(dir, 'served.openapi.json');
        writeFileSync(file, served[0]);
        const doc_uri = pathToFileURL(file).href;
        const meta = await validate('https://spec.openapis.org/oas/3.1/schema-base', doc);
        if (!meta.valid) {
            console.log('FAIL the served document is not a valid OpenAPI 3.1 document:');
            for (const e of meta.errors ?? []) console.log(`  ${e.instanceLocation}: ${e.absoluteKeywordLocation}`);
            process.exit(1);
        }
        let failed = 0;
        const seen = new Set();
        for (const x of exchanges) {
            const errors = await check(doc, doc_uri, x);
            seen.add(`${x.method} ${match_path(doc.paths, x.target) ?? x.target} ${x.status}`);
            if (errors.length === 0) continue;
            ++failed;
            console.log(`FAIL ${x.method} ${x.target} -> ${x.status} ${x.content_type}`);
            for (const e of errors.slice(0, 10)) console.log(`  ${e}`);
            console.log(`  body: ${x.body.slice(0, 300)}`);
        }
        console.log(`answers: ${exchanges.length} checked (${seen.size} distinct method, path and status), ${exchanges.length - failed} valid, ${failed} invalid`);
        process.exit(failed === 0 ? 0 : 1);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

await main();
