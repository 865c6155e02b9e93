#!/usr/bin/env node
// Checks the Grafana dashboard's queries without Grafana: every PromQL `expr`
// in deploy/grafana/dashboards/raftka.json (and every rule of
// deploy/prometheus/alerts.yml) is run against a real Prometheus that scrapes
// the cluster, through /api/v1/query, after substituting Grafana's template
// variables and built-in intervals the way Grafana would. A query is wrong
// when Prometheus rejects it, or when it names a metric Prometheus has never
// scraped (a typo, a renamed metric, a label mistaken for a name). A query
// that runs but returns nothing is reported too, as a note: some series only
// appear after their first event (an unclean election, a produce with
// acks=0), so that alone is not an error. Labels are checked too: every
// label a `by`/`without`/`on`/`ignoring` list or a label matcher names must
// exist on some series of the metrics the query reads, and every `{{label}}`
// of the legend on some series of the answer (else Grafana shows an empty
// legend or silently groups everything into one line).
//
// usage: node deploy/grafana/check-dashboard.mjs [--prometheus http://127.0.0.1:9090] [--json] [dashboard.json]
// Exit status 1 when a query is wrong. tests/docker/dashboard-queries.test.ts
// runs it against the compose cluster's monitoring profile.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_DASHBOARD = `${here}dashboards/raftka.json`;

/** Grafana's built-in variables, with values a 5 s scrape interval and a 1 h range would give. */
const BUILTINS = {
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
};

/** Every panel (rows nest theirs) with its queries: [{ panel, refId, expr }]. */
export function dashboardQueries(dashboard) {
  const out = [];
  const walk = (panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string' && t.expr.trim() !== '')
          out.push({ panel: p.title ?? `panel ${p.id}`, refId: t.refId ?? '?', expr: t.expr, legend: t.legendFormat });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/**
 * Values for the dashboard's template variables: the current value when it
 * has one, else the first option, else `.*` (which fits `=~` matchers, the
 * way Grafana's "All" does).
 */
export function templateValues(dashboard) {
  const values = { ...BUILTINS };
  for (const v of dashboard.templating?.list ?? []) {
    const current = v.current?.value;
    const first = v.options?.[0]?.value;
    let value = Array.isArray(current) ? current.join('|') : (current ?? first ?? '.*');
    if (value === '$__all' || value === 'All') value = '.*';
    values[v.name] = String(value);
  }
  return values;
}

/** `$name`, `${name}`, `${name:format}` and `[[name]]` replaced, as Grafana does before sending a query. */
export function substitute(expr, values) {
  const lookup = (name, whole) => (Object.hasOwn(values, name) ? values[name] : whole);
  return expr
    .replace(/\$\{(\w+)(?::[^}]*)?\}/g, (whole, name) => lookup(name, whole))
    .replace(/\[\[(\w+)\]\]/g, (whole, name) => lookup(name, whole))
    .replace(/\$(\w+)/g, (whole, name) => lookup(name, whole));
}

const PROMQL_WORDS = new Set([
  // aggregations, keywords, operators spelled as words
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
]);

/**
 * The metric names a query reads: identifiers that are not functions (a `(`
 * follows), keywords, label names inside `{}`, `by (...)` lists, strings,
 * durations or numbers.
 */
export function metricNames(expr) {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ');
  const names = new Set();
  for (const m of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)) {
    if (m[2] !== undefined) continue;
    const word = m[1];
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    // 1e3, 0x10: part of a number
    if (m.index > 0 && /[0-9.]/.test(stripped[m.index - 1])) continue;
    names.add(word);
  }
  return [...names];
}

/** Label names a query groups or matches by: `by (...)` lists and the keys of `{...}` matchers. */
export function labelNames(expr) {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const names = new Set();
  for (const m of noStrings.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g))
    for (const l of m[1].split(',')) if (l.trim() !== '') names.add(l.trim());
  for (const m of noStrings.matchAll(/\{([^}]*)\}/g))
    for (const part of m[1].split(',')) {
      const key = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)/.exec(part);
      if (key !== null && key[1] !== '__name__') names.add(key[1]);
    }
  return [...names];
}

/** `{{label}}` placeholders of a Grafana legend format. */
export function legendLabels(legend) {
  return [...(legend ?? '').matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)].map((m) => m[1]);
}

async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json().catch(() => ({ status: 'error', error: `HTTP ${res.status}, not JSON` }));
  return body;
}

/** Alert and recording rules of a Prometheus rules file, as { panel, refId, expr } like the dashboard's. */
export function rulesQueries(rulesYamlText) {
  // A small reader for the `- alert:`/`- record:` + `expr:` shape of alerts.yml (no YAML dependency here).
  const out = [];
  let name = null;
  const lines = rulesYamlText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const n = /^\s*-\s*(alert|record):\s*(\S+)/.exec(l);
    if (n) name = n[2];
    const e = /^\s*expr:\s*(.*)$/.exec(l);
    if (e && name !== null) {
      let expr = e[1].trim();
      if (expr === '|' || expr === '>' || expr === '|-' || expr === '>-') {
        const indent = (lines[i + 1] ?? '').search(/\S/);
        const parts = [];
        while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) >= indent)) {
          parts.push(lines[++i].trim());
        }
        expr = parts.join(' ').trim();
      } else expr = expr.replace(/^(['"])(.*)\1$/, '$2');
      out.push({ panel: `rule ${name}`, refId: 'expr', expr });
    }
  }
  return out;
}

/**
 * Runs every query against Prometheus. Each result: { panel, refId, expr,
 * query (substituted), status: 'ok' | 'empty' | 'error' | 'unknown-metric' |
 * 'unknown-label', series, error?, unknownMetrics?, unknownLabels? }.
 */
export async function checkQueries(queries, { prometheus, values = BUILTINS }) {
  const base = prometheus.replace(/\/$/, '');
  const known = await getJson(`${base}/api/v1/label/__name__/values`);
  if (known.status !== 'success') throw new Error(`${base}: cannot list metric names: ${known.error}`);
  const names = new Set(known.data);
  const labelsOf = new Map();
  const metricLabels = async (metric) => {
    if (!labelsOf.has(metric)) {
      const body = await getJson(`${base}/api/v1/series?match[]=${encodeURIComponent(metric)}`);
      const keys = new Set(['__name__']);
      for (const series of body.data ?? []) for (const k of Object.keys(series)) keys.add(k);
      labelsOf.set(metric, keys);
    }
    return labelsOf.get(metric);
  };
  const results = [];
  for (const q of queries) {
    const query = substitute(q.expr, values);
    const r = { ...q, query, series: 0 };
    const unknown = metricNames(query).filter((n) => !names.has(n));
    const body = await getJson(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
    if (body.status !== 'success') {
      r.status = 'error';
      r.error = `${body.errorType ?? 'error'}: ${body.error}`;
    } else if (unknown.length > 0) {
      r.status = 'unknown-metric';
      r.unknownMetrics = unknown;
    } else {
      const result = Array.isArray(body.data?.result) ? body.data.result : null;
      r.series = result === null ? 1 : result.length;
      r.status = r.series === 0 ? 'empty' : 'ok';
      const read = new Set();
      for (const m of metricNames(query)) for (const k of await metricLabels(m)) read.add(k);
      const unknownLabels = labelNames(query).filter((l) => !read.has(l));
      // The legend can only be judged on an answer with series.
      if (result !== null && result.length > 0) {
        const answered = new Set(result.flatMap((x) => Object.keys(x.metric ?? {})));
        for (const l of legendLabels(q.legend)) if (!answered.has(l)) unknownLabels.push(`{{${l}}}`);
      }
      if (unknownLabels.length > 0) {
        r.status = 'unknown-label';
        r.unknownLabels = unknownLabels;
      }
    }
    if (query.includes('$')) {
      r.status = 'error';
      r.error = `an unsubstituted variable is left: ${query}`;
    }
    results.push(r);
  }
  return results;
}

/** Dashboard (and optional rules file) checked against Prometheus. */
export async function checkDashboard({ prometheus, dashboardFile = DEFAULT_DASHBOARD, rulesFile }) {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8'));
  const queries = dashboardQueries(dashboard);
  if (rulesFile !== undefined) queries.push(...rulesQueries(readFileSync(rulesFile, 'utf8')));
  return checkQueries(queries, { prometheus, values: templateValues(dashboard) });
}

/** A query the dashboard must not ship with (an empty answer is only a note). */
export function isWrong(r) {
  return r.status === 'error' || r.status === 'unknown-metric' || r.status === 'unknown-label';
}

export function formatResults(results) {
  const lines = results.map((r) => {
    const what =
      r.status === 'error'
        ? r.error
        : r.status === 'unknown-metric'
          ? `no such metric: ${r.unknownMetrics.join(', ')}`
          : r.status === 'unknown-label'
            ? `no such label: ${r.unknownLabels.join(', ')}`
            : `${r.series} series`;
    return `${r.status.padEnd(14)} ${`${r.panel} [${r.refId}]`.padEnd(48)} ${what}\n${''.padEnd(15)}${r.query}`;
  });
  const count = (s) => results.filter((r) => r.status === s).length;
  lines.push(
    `${results.length} queries: ${count('ok')} ok, ${count('empty')} empty, ${count('error')} errors, ${count('unknown-metric')} unknown metrics, ${count('unknown-label')} unknown labels`,
  );
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let prometheus = 'http://127.0.0.1:9090';
  let rulesFile = `${here}../prometheus/alerts.yml`;
  let json = false;
  let dashboardFile = DEFAULT_DASHBOARD;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--prometheus') prometheus = args[++i];
    else if (args[i] === '--rules') rulesFile = args[++i];
    else if (args[i] === '--no-rules') rulesFile = undefined;
    else if (args[i] === '--json') json = true;
    else dashboardFile = args[i];
  }
  const results = await checkDashboard({ prometheus, dashboardFile, rulesFile });
  console.log(json ? JSON.stringify(results) : formatResults(results));
  process.exit(results.some((r) => isWrong(r)) ? 1 : 0);
}
