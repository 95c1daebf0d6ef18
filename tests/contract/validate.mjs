#!/usr/bin/env node
// The contract test. With no arguments it compiles every schema in strict mode and checks the
// examples: each schemas/examples/<name>/valid/*.json must pass, each invalid/*.json must fail
// with the ajv keyword (and instance path, if given) that invalid/expect.json names for it.
// With --samples FILE (repeatable) it checks captured MQTT traffic instead: JSON lines of
// {"topic": "...", "payload": {...}}, each validated against the schema of its topic.
// Exit status 0 only when everything checked is as expected.
//
//   node validate.mjs [--schemas DIR] [--examples] [--samples FILE ...] [--verbose]
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { create_contract, default_schemas_dir, payload_schemas } from './contract.mjs';

/// Per payload schema: at least this many examples of each polarity.
const min_valid_examples = 2;
const min_invalid_examples = 3;

/// Variants the valid examples must cover, read from the schemas so the two cannot drift:
/// for each schema, every discriminator value must appear in at least one valid example.
const variant_coverage = {
    device_state: { values: () => [true, false], of: (p) => [p.online] },
    gw_state: { values: () => [true, false], of: (p) => [p.online] },
    device_event: { values: (s) => s.properties.type.enum, of: (p) => [p.type] },
    dock_event: { values: (s) => s.properties.type.enum, of: (p) => [p.type] },
    device_cmd: { values: (s) => s.properties.type.enum, of: (p) => [p.type] },
    srv_cmd: { values: (_s, all) => all.get('common').$defs.srv_cmd_type.enum, of: (p) => [p.type] },
    gw_events: { values: (s) => s.$defs.event.properties.kind.enum, of: (p) => p.events.map((e) => e.kind) },
};

function parse_args(argv) {
    const args = { schemas_dir: default_schemas_dir, samples: [], examples: false, verbose: false };
    for (let i = 0; i < argv.length; ++i) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
            return argv[++i];
        };
        if (a === '--samples') args.samples.push(value());
        else if (a === '--schemas') args.schemas_dir = value();
        else if (a === '--examples') args.examples = true;
        else if (a === '--verbose') args.verbose = true;
        else if (a === '--help' || a === '-h') {
            console.log('usage: node validate.mjs [--schemas DIR] [--examples] [--samples FILE ...] [--verbose]');
            process.exit(0);
        } else throw new Error(`unknown argument ${a}`);
    }
    if (args.samples.length === 0) args.examples = true;
    return args;
}

/// Accumulates outcomes and prints one line per failure.
class tally {
    constructor(verbose) { this.passed = 0; this.failed = 0; this.verbose_ = verbose; }
    pass(what) { ++this.passed; if (this.verbose_) console.log(`ok   ${what}`); }
    fail(what, details = []) {
        ++this.failed;
        console.log(`FAIL ${what}`);
        for (const d of details) console.log(`       ${d}`);
    }
}

function list_json(dir) {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'expect.json').sort();
}

function check_examples(contract, examples_dir, t) {
    if (!existsSync(examples_dir)) {
        t.fail(`${examples_dir}: no examples folder`);
        return;
    }
    const names = readdirSync(examples_dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    for (const name of names) {
        if (!contract.schemas.has(name)) t.fail(`examples/${name}: no schema ${name}.schema.json`);
    }
    for (const name of [...new Set([...payload_schemas, ...names])].filter((n) => contract.schemas.has(n))) {
        const where = `examples/${name}`;
        const valid_dir = path.join(examples_dir, name, 'valid');
        const invalid_dir = path.join(examples_dir, name, 'invalid');
        const valid_files = list_json(valid_dir);
        const invalid_files = list_json(invalid_dir);
        if (payload_schemas.includes(name)) {
            if (valid_files.length < min_valid_examples) t.fail(`${where}/valid: ${valid_files.length} examples, need >= ${min_valid_examples}`);
            if (invalid_files.length < min_invalid_examples) t.fail(`${where}/invalid: ${invalid_files.length} examples, need >= ${min_invalid_examples}`);
        }

        const seen_variants = new Set();
        for (const file of valid_files) {
            const what = `${where}/valid/${file}`;
            let payload;
            try { payload = JSON.parse(readFileSync(path.join(valid_dir, file), 'utf8')); } catch (e) {
                t.fail(`${what}: not JSON: ${e.message}`);
                continue;
            }
            const r = contract.validate(name, payload);
            if (r.valid) {
                t.pass(what);
                if (variant_coverage[name]) for (const v of variant_coverage[name].of(payload)) seen_variants.add(v);
            } else {
                t.fail(`${what}: expected valid, got ${r.errors.length} error(s)`, contract.describe_errors(r.errors));
            }
        }
        if (variant_coverage[name]) {
            const wanted = variant_coverage[name].values(contract.schemas.get(name), contract.schemas);
            const missing = wanted.filter((v) => !seen_variants.has(v));
            if (missing.length > 0) t.fail(`${where}/valid: no valid example of variant(s) ${missing.map(String).join(', ')}`);
        }

        let expect = {};
        const expect_file = path.join(invalid_dir, 'expect.json');
        if (invalid_files.length > 0) {
            try { expect = JSON.parse(readFileSync(expect_file, 'utf8')); } catch (e) {
                t.fail(`${where}/invalid/expect.json: ${e.message}`);
                continue;
            }
        }
        for (const key of Object.keys(expect)) {
            if (!invalid_files.includes(key)) t.fail(`${where}/invalid/expect.json names ${key}, which does not exist`);
        }
        for (const file of invalid_files) {
            const what = `${where}/invalid/${file}`;
            const want = typeof expect[file] === 'string' ? { keyword: expect[file] } : expect[file];
            if (!want || typeof want.keyword !== 'string') {
                t.fail(`${what}: expect.json has no keyword for it`);
                continue;
            }
            let payload;
            try { payload = JSON.parse(readFileSync(path.join(invalid_dir, file), 'utf8')); } catch (e) {
                t.fail(`${what}: not JSON: ${e.message}`);
                continue;
            }
            const r = contract.validate(name, payload);
            if (r.valid) {
                t.fail(`${what}: expected to fail with ${want.keyword}, but it passed`);
                continue;
            }
            const hit = r.errors.some((e) => e.keyword === want.keyword &&
                (want.instancePath === undefined || e.instancePath === want.instancePath));
            if (hit) t.pass(what);
            else {
                const at = want.instancePath === undefined ? '' : ` at "${want.instancePath}"`;
                t.fail(`${what}: expected keyword ${want.keyword}${at} among the errors, got:`, contract.describe_errors(r.errors));
            }
        }
    }
}

function check_samples(contract, file, t) {
    let text;
    try { text = readFileSync(file, 'utf8'); } catch (e) {
        t.fail(`${file}: ${e.message}`);
        return;
    }
    text.split('\n').forEach((line, i) => {
        const what = `${file}:${i + 1}`;
        if (line.trim() === '') return;
        let sample;
        try { sample = JSON.parse(line); } catch (e) {
            t.fail(`${what}: not a JSON line: ${e.message}`);
            return;
        }
        if (sample === null || typeof sample !== 'object' || typeof sample.topic !== 'string' || !('payload' in sample)) {
            t.fail(`${what}: a sample is {"topic": "...", "payload": {...}}`);
            return;
        }
        const r = contract.validate_message(sample.topic, sample.payload);
        if (r.valid) t.pass(`${what} ${sample.topic} (${r.schema})`);
        else t.fail(`${what} ${sample.topic} (${r.schema ?? 'no schema'})`, contract.describe_errors(r.errors));
    });
}

function main() {
    let args;
    try { args = parse_args(process.argv.slice(2)); } catch (e) {
        console.error(`validate.mjs: ${e.message}`);
        return 2;
    }
    let contract;
    try { contract = create_contract({ schemas_dir: args.schemas_dir }); } catch (e) {
        console.log(`FAIL schemas: ${e.message}`);
        console.log('contract: schemas do not compile');
        return 1;
    }
    console.log(`schemas: ${contract.schema_names.length} compiled in strict mode`);

    let status = 0;
    if (args.examples) {
        const t = new tally(args.verbose);
        check_examples(contract, path.join(args.schemas_dir, 'examples'), t);
        console.log(`examples: ${t.passed + t.failed} checked, ${t.passed} as expected, ${t.failed} failed`);
        if (t.failed > 0 || t.passed === 0) status = 1;
    }
    if (args.samples.length > 0) {
        const t = new tally(args.verbose);
        for (const file of args.samples) check_samples(contract, file, t);
        console.log(`samples: ${t.passed + t.failed} checked, ${t.passed} valid, ${t.failed} invalid`);
        if (t.failed > 0 || t.passed + t.failed === 0) status = 1;
    }
    return status;
}

process.exitCode = main();
