#!/usr/bin/env node
// Flux check: every Flux query of every generated dashboard and alert rule, substituted the way
// Grafana 10.2 does before it reaches InfluxDB, then parsed and type-checked by InfluxData's own
// flux-lsp (the `@influxdata/flux-lsp-node` WASM build, pinned in package-lock.json).
//
// Usage: node check.js [STACK_DIR...]   (default: every generated/*/ of the repository, and the
//                                         Flux of `promo-infra runs` from its test snapshots)
//        node check.js --selftest       (the broken fixture in selftest/ must give exactly
//                                         the problems in selftest/expected.txt)
// Exit: 0 clean (or selftest as expected), 1 problems found, 2 the check itself could not run.
//
// Owns: finding Flux queries in generated files, Grafana 10.2's substitution, reporting.
// May not: write files, talk to anything but the local WASM module.
'use strict';

const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');
const { Lsp, Flux } = require('@influxdata/flux-lsp-node');

// The server's INFO/DEBUG chatter ("language server initialized") would go to stdout; warnings
// and errors still reach stderr. This script writes its own output with process.stdout.write.
console.info = () => {};
console.debug = () => {};
console.log = (...args) => process.stderr.write(`${args.join(' ')}\n`);

// ---------------------------------------------------------------- Grafana 10.2's substitution

// public/app/features/templating/template_srv.ts: `$var`, `[[var:fmt]]`, `${var.field:fmt}`.
const VARIABLE_RE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

// public/app/core/utils/kbn.ts regexEscape.
const regexEscape = (v) => v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');

// The formats of template_srv's formatRegistry a Flux query may use.
function formatValue(value, fmt) {
  const list = Array.isArray(value) ? value : [value];
  switch (fmt) {
    case undefined:
      return Array.isArray(value) ? (value.length === 1 ? value[0] : `{${value.join(',')}}`) : value;
    case 'regex': {
      const esc = list.map(regexEscape);
      return esc.length === 1 ? esc[0] : `(${esc.join('|')})`;
    }
    case 'pipe':
      return list.join('|');
    case 'csv':
      return list.join(',');
    case 'raw':
      return Array.isArray(value) ? list.join(',') : value;
    case 'doublequote':
      return list.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',');
    case 'singlequote':
      return list.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',');
    case 'json':
      return JSON.stringify(value);
    default:
      return null; // unknown format: reported by the caller
  }
}

// Realistic values of the dashboards' variables, by name (k6 tag values the stacks write).
const REALISTIC = {
  testid: ['black-friday_20261127_083005_3fa9c2d1'],
  baseline_testid: ['baseline_20261120_083005_0b7e44aa'],
  environment: ['preprod', 'prod'],
  promo_type: ['standard', 'flash'],
  // `name` tag values: cleaned URLs, with the characters a regex must escape.
  url: ['https://shop.example/cart?step=2&coupon=a|b', 'https://shop.example/product/42'],
};

// The picks checked for every query: every multi/All variable on All, then concrete values.
function picks(variables) {
  const all = {};
  const picked = {};
  for (const v of variables) {
    const saved = v.current && v.current.value;
    const values =
      saved && saved !== '$__all' ? [].concat(saved) : REALISTIC[v.name] || [`${v.name}-value`];
    all[v.name] = v.includeAll
      ? { all: true, allValue: v.allValue, options: values }
      : { value: values[0] };
    picked[v.name] = { value: v.multi ? values : values[0] };
  }
  return [
    ['all', all],
    ['picked', picked],
  ];
}

// Built-in variables a query could use (a 6 h range, the interval Grafana would pick).
const BUILTIN = {
  __interval: '10s',
  __interval_ms: '10000',
  __range: '6h',
  __range_s: '21600',
  __range_ms: '21600000',
  __from: '1795762800000',
  __to: '1795784400000',
};

// templateSrv.replace(query, scopedVars) without a format, as the InfluxDB datasource does for
// Flux (applyTemplateVariables). Unknown variables stay as they are, like Grafana leaves them.
function replaceVariables(query, vars, problems) {
  return query.replace(VARIABLE_RE, (match, v1, v2, fmt2, v3, fieldPath, fmt3) => {
    const name = v1 || v2 || v3;
    const fmt = fmt2 || fmt3;
    if (name in BUILTIN) return BUILTIN[name];
    const pick = vars[name];
    if (!pick) return match;
    let value = pick.value;
    if (pick.all) {
      // Custom all value: not formatted (only text/percentencode would be).
      if (pick.allValue !== undefined && pick.allValue !== null && pick.allValue !== '') {
        return pick.allValue;
      }
      value = pick.options;
    }
    const out = formatValue(value, fmt);
    if (out === null) {
      problems.push(`unknown variable format \`${fmt}\` in \`${match}\``);
      return match;
    }
    return out;
  });
}

// pkg/tsdb/influxdb/flux/macros.go (10.2): any `<letters>.<letters>` whose second word is a
// macro is replaced everywhere in the query (not only `v.`; grafana/grafana#93040 came later).
const MACRO_RE = /([a-zA-Z]+)\.([a-zA-Z]+)/g;

function goDuration(ms) {
  // Go's time.Duration.String() for whole seconds: 10s, 1m0s, 1h0m0s.
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

function applyMacros(query, ctx) {
  const replacements = {
    timeRangeStart: ctx.from,
    timeRangeStop: ctx.to,
    windowPeriod: goDuration(ctx.intervalMs),
    bucket: `"${ctx.bucket}"`,
    defaultBucket: `"${ctx.bucket}"`,
    organization: `"${ctx.organization}"`,
  };
  let out = query;
  // Like Go: find every match in the original text, then ReplaceAll each whole match.
  for (const m of query.matchAll(MACRO_RE)) {
    if (m[2] in replacements) out = out.split(m[0]).join(replacements[m[2]]);
  }
  return out;
}

// The macro contexts: the dashboard's default range with two intervals Grafana would send.
const MACRO_CONTEXTS = [
  { name: '10s', from: '2026-11-27T08:00:00Z', to: '2026-11-27T14:00:00Z', intervalMs: 10000 },
  { name: '1m0s', from: '2026-11-20T00:00:00Z', to: '2026-11-27T14:00:00Z', intervalMs: 60000 },
];

// ---------------------------------------------------------------- finding the queries

class Fatal extends Error {}

function parseFile(file, parse) {
  try {
    return parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Fatal(`${file}: cannot be read: ${e.message}`);
  }
}

const readYaml = (file) => parseFile(file, (text) => yaml.load(text));

function walk(dir, out = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

// Flux datasources of a stack: uid -> { bucket, organization }.
function fluxDatasources(files) {
  const found = new Map();
  for (const file of files.filter((f) => /[/\\]datasources[/\\][^/\\]+\.ya?ml$/.test(f))) {
    const doc = readYaml(file) || {};
    for (const ds of doc.datasources || []) {
      const j = ds.jsonData || {};
      if (ds.type === 'influxdb' && j.version === 'Flux') {
        found.set(ds.uid, { bucket: j.defaultBucket, organization: j.organization, name: ds.name });
      }
    }
  }
  return found;
}

const dsUid = (ds, fallback) => (ds && typeof ds === 'object' ? ds.uid : ds) || fallback;

// Every Flux query of a dashboard: { where, query, vars }.
function dashboardQueries(dash, flux, defaultUid) {
  const out = [];
  const variables = ((dash.templating || {}).list || []).filter((v) => v.type === 'query' || v.type === 'custom');
  const isFlux = (ds) => flux.has(dsUid(ds, defaultUid));
  for (const v of variables) {
    const q = typeof v.query === 'string' ? v.query : (v.query || {}).query;
    if (v.type === 'query' && isFlux(v.datasource) && q) out.push({ where: `variable "${v.name}"`, query: q });
  }
  for (const a of (dash.annotations || {}).list || []) {
    if (!isFlux(a.datasource)) continue;
    const where = `annotation "${a.name}"`;
    if (a.target && typeof a.target.query === 'string') {
      out.push({ where, query: a.target.query });
    } else if (typeof a.query === 'string') {
      // The InfluxQL model (top-level query + *Column keys): Grafana 10.2 refuses it in Flux mode
      // with "Flux requires the standard annotation query".
      const problem =
        'Flux annotation in the InfluxQL model (top-level `query`); Grafana 10.2 needs the standard model `target: {refId, query}` returning _time, timeEnd, text, tags';
      out.push({ where, query: a.query, problem });
    }
  }
  const panels = [];
  const collect = (list) => {
    for (const p of list || []) {
      panels.push(p);
      collect(p.panels);
    }
  };
  collect(dash.panels);
  for (const p of panels) {
    for (const t of p.targets || []) {
      if (typeof t.query !== 'string' || !isFlux(t.datasource || p.datasource)) continue;
      out.push({ where: `panel "${p.title}" (refId ${t.refId})`, query: t.query });
    }
  }
  return { queries: out, variables };
}

// Every Flux query of an alerting provisioning file.
function alertQueries(doc, flux) {
  const out = [];
  for (const g of doc.groups || []) {
    for (const r of g.rules || []) {
      for (const d of r.data || []) {
        const q = d.model && d.model.query;
        if (flux.has(d.datasourceUid) && typeof q === 'string') {
          out.push({ where: `alert rule "${r.title}" (refId ${d.refId})`, query: q });
        }
      }
    }
  }
  return out;
}

// The substituted texts of every Flux query of a stack directory.
function stackTexts(stackDir, root) {
  const files = walk(stackDir);
  const flux = fluxDatasources(files);
  if (flux.size === 0) return { flux, texts: [], queries: 0 };
  const defaultUid = [...flux.keys()][0];
  const texts = [];
  let queries = 0;
  const rel = (f) => path.relative(root, f);
  const add = (file, q, vars) => {
    queries += 1;
    const ds = flux.get(defaultUid);
    const seen = new Set();
    for (const [pickName, pick] of vars) {
      for (const ctx of MACRO_CONTEXTS) {
        const problems = q.problem ? [q.problem] : [];
        const substituted = replaceVariables(q.query, pick, problems);
        const text = applyMacros(substituted, { ...ctx, bucket: ds.bucket, organization: ds.organization });
        const key = text + problems.join();
        if (seen.has(key)) continue;
        seen.add(key);
        texts.push({ file: rel(file), where: q.where, pick: `${pickName}, window ${ctx.name}`, text, problems });
      }
    }
  };
  for (const file of files) {
    if (file.endsWith('.json')) {
      const dash = parseFile(file, JSON.parse);
      if (!Array.isArray(dash.panels)) continue;
      const { queries: qs, variables } = dashboardQueries(dash, flux, defaultUid);
      for (const q of qs) add(file, q, picks(variables));
    } else if (/\.ya?ml$/.test(file)) {
      const doc = readYaml(file);
      if (!doc || !Array.isArray(doc.groups)) continue;
      // Alert rules: no dashboard variables, only the backend macros.
      for (const q of alertQueries(doc, flux)) add(file, q, [['no variables', {}]]);
    }
  }
  return { flux, texts, queries };
}

// The Flux `promo-infra runs` sends (src/runs/source.rs), as its tests snapshot it
// (tests/it/snapshots/it__runs__flux_*.snap): complete queries, no Grafana substitution.
function runsTexts(root) {
  const dir = path.join(root, 'tests', 'it', 'snapshots');
  const files = fs.readdirSync(dir).filter((f) => /^it__runs__flux_.*\.snap$/.test(f)).sort();
  if (files.length === 0) throw new Fatal(`${dir}: no it__runs__flux_*.snap (the runs queries' snapshots)`);
  const texts = files.map((f) => {
    const raw = parseFile(path.join(dir, f), (t) => t);
    // insta's header: `---`, metadata lines, `---`; the query follows.
    const body = raw.split(/^---$/m).slice(2).join('---').replace(/^\n/, '').trimEnd();
    return { file: path.join('tests', 'it', 'snapshots', f), where: 'runs query', pick: 'as sent', text: body, problems: [] };
  });
  return { name: 'promo-infra runs', flux: new Map([['runs', {}]]), texts, queries: texts.length };
}

// ---------------------------------------------------------------- InfluxData's checks

class Checker {
  constructor() {
    this.lsp = new Lsp();
    this.waiting = new Map();
    this.next = 1;
    this.lsp.onMessage((raw) => {
      const msg = JSON.parse(raw);
      if (msg.method === 'textDocument/publishDiagnostics') {
        const done = this.waiting.get(msg.params.uri);
        if (done) {
          this.waiting.delete(msg.params.uri);
          done(msg.params.diagnostics);
        }
      }
    });
    this.lsp.run().catch((e) => {
      process.stderr.write(`flux-check: the flux-lsp server stopped: ${e}\n`);
      process.exit(2);
    });
  }

  send(obj) {
    return this.lsp.send(JSON.stringify({ jsonrpc: '2.0', ...obj }));
  }

  async start() {
    await this.send({ id: 0, method: 'initialize', params: { capabilities: {} } });
    await this.send({ method: 'initialized', params: {} });
  }

  // Diagnostics of one text: flux-lsp's (parser + semantic analysis: undefined identifiers,
  // function signatures, types), and Flux#is_valid() as a second semantic check.
  async check(text) {
    const uri = `file:///query-${this.next++}.flux`;
    const got = new Promise((resolve, reject) => {
      this.waiting.set(uri, resolve);
      setTimeout(() => reject(new Error(`flux-lsp gave no diagnostics for ${uri} in 20 s`)), 20000).unref();
    });
    await this.send({
      method: 'textDocument/didOpen',
      params: { textDocument: { uri, languageId: 'flux', version: 1, text } },
    });
    const diagnostics = (await got).filter((d) => d.severity <= 2);
    await this.send({ method: 'textDocument/didClose', params: { textDocument: { uri } } });
    const out = diagnostics.map((d) => ({
      line: d.range.start.line + 1,
      col: d.range.start.character + 1,
      message: `${d.severity === 1 ? 'error' : 'warning'}: ${d.message}`,
    }));
    if (out.length === 0) {
      const flux = new Flux(text);
      const valid = flux.is_valid();
      flux.free();
      if (!valid) out.push({ line: 1, col: 1, message: 'error: Flux#is_valid() is false (semantic check)' });
    }
    return out;
  }
}

function report(t, d) {
  const lines = t.text.split('\n');
  const src = (lines[d.line - 1] || '').trim();
  return `${t.file}: ${t.where}: line ${d.line}:${d.col}: ${d.message}\n    | ${src}`;
}

async function checkStacks(dirs, root) {
  const checker = new Checker();
  await checker.start();
  const problems = [];
  const summary = [];
  for (const dir of dirs) {
    const { flux, texts, queries } = typeof dir === 'string' ? stackTexts(dir, root) : dir;
    const rel = typeof dir === 'string' ? path.relative(root, dir) || '.' : dir.name;
    if (flux.size === 0) {
      summary.push(`${rel}: no InfluxDB Flux datasource, nothing to check`);
      continue;
    }
    // One line per problem of a query; the picks and windows it shows up in are listed.
    const byProblem = new Map();
    const bad = new Set();
    for (const t of texts) {
      const found = t.problems.map((message) => ({ line: 1, col: 1, message: `error: ${message}` }));
      found.push(...(await checker.check(t.text)));
      for (const d of found) {
        const key = report(t, d);
        if (!byProblem.has(key)) byProblem.set(key, []);
        if (!byProblem.get(key).includes(t.pick)) byProblem.get(key).push(t.pick);
        bad.add(`${t.file}\0${t.where}`);
      }
    }
    for (const [key, seenIn] of byProblem) {
      const [head, src] = key.split('\n');
      problems.push(`${head} [${seenIn.join('; ')}]\n${src}`);
    }
    summary.push(`${rel}: ${queries} Flux queries, ${texts.length} substituted texts, ${bad.size} queries with problems`);
  }
  return { problems, summary };
}

async function main() {
  const args = process.argv.slice(2);
  const root = path.resolve(__dirname, '..', '..');
  if (args[0] === '--selftest') {
    const dir = path.join(__dirname, 'selftest');
    const { problems } = await checkStacks([path.join(dir, 'stack')], root);
    const want = fs.readFileSync(path.join(dir, 'expected.txt'), 'utf8').trimEnd();
    const got = problems.join('\n');
    if (got !== want) {
      process.stdout.write(`flux-check selftest FAILED: the broken fixture gave\n${got}\n\nexpected (selftest/expected.txt)\n${want}\n`);
      process.exit(1);
    }
    process.stdout.write(`flux-check selftest: the ${problems.length} expected problems were found in the broken fixture\n`);
    return;
  }
  let dirs = args.map((a) => path.resolve(a));
  if (dirs.length === 0) {
    const gen = path.join(root, 'generated');
    dirs = fs.readdirSync(gen, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(gen, e.name)).sort();
  }
  for (const d of dirs) {
    if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) {
      process.stderr.write(`flux-check: ${d} is not a directory; give generated stack directories (generated/<stack>)\n`);
      process.exit(2);
    }
  }
  // With no directory given: every generated stack, and the queries of `runs`.
  const inputs = args.length === 0 ? [...dirs, runsTexts(root)] : dirs;
  const { problems, summary } = await checkStacks(inputs, root);
  process.stdout.write(summary.map((s) => `flux-check: ${s}\n`).join(''));
  if (problems.length) {
    process.stdout.write(`${problems.join('\n')}\nflux-check: ${problems.length} problems; fix dashboards-src/ or the compile code, then \`cargo run -q -- generate\`\n`);
    process.exit(1);
  }
  process.stdout.write('flux-check: every Flux query parses and type-checks\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`flux-check: ${e instanceof Fatal ? e.message : e.stack || e}\n`);
    process.exit(2);
  },
);
