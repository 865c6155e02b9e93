// The timeline chart of `raftka bench failover`: under-replicated, under
// min ISR and offline partitions (top) and acknowledged produce throughput (bottom) over
// the run, each fault drawn as a labelled vertical rule on both panels.
// Vega-Lite describes the chart, Vega renders it to SVG headless (no canvas,
// no browser), and resvg (a Rust renderer shipped as a prebuilt npm package)
// turns the SVG into a PNG for places that do not show SVG.
import { writeFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export interface TimelinePoint {
  /** Seconds since the bench started producing. */
  tSeconds: number;
  underReplicated: number;
  /** Partitions whose ISR is below min.insync.replicas: acks=all writes to them fail with NOT_ENOUGH_REPLICAS. */
  underMinIsr?: number;
  offline: number;
}

export interface ThroughputPoint {
  tSeconds: number;
  recordsPerSec: number;
}

export interface FaultMark {
  tSeconds: number;
  label: string;
}

export interface ChartInput {
  title: string;
  partitions: TimelinePoint[];
  throughput: ThroughputPoint[];
  faults: FaultMark[];
}

/** The Vega-Lite spec of the chart (exported for tests and for anyone who wants to restyle it). */
export function timelineSpec(input: ChartInput): vl.TopLevelSpec {
  const partitionRows = input.partitions.flatMap((p) => [
    { t: p.tSeconds, series: 'under-replicated', value: p.underReplicated },
    ...(p.underMinIsr === undefined ? [] : [{ t: p.tSeconds, series: 'under min ISR', value: p.underMinIsr }]),
    { t: p.tSeconds, series: 'offline', value: p.offline },
  ]);
  const xMax = Math.max(
    1,
    ...input.partitions.map((p) => p.tSeconds),
    ...input.throughput.map((p) => p.tSeconds),
    ...input.faults.map((f) => f.tSeconds),
  );
  const x = { field: 't', type: 'quantitative', title: 'seconds', scale: { domain: [0, xMax], nice: false } } as const;
  const faultLayers = (withLabels: boolean) => [
    {
      data: { values: input.faults.map((f) => ({ t: f.tSeconds, label: f.label })) },
      mark: { type: 'rule', color: '#c0392b', strokeDash: [4, 3] },
      encoding: { x },
    },
    ...(withLabels
      ? [
          {
            // Staggered rows, so that labels of faults close together do not overlap.
            data: { values: input.faults.map((f, i) => ({ t: f.tSeconds, label: f.label, y: 4 + (i % 4) * 13 })) },
            mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, color: '#c0392b', fontSize: 10 },
            encoding: { x, y: { field: 'y', type: 'quantitative', scale: null }, text: { field: 'label' } },
          },
        ]
      : []),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: input.title,
    config: { font: 'DejaVu Sans', view: { stroke: '#ccc' } },
    vconcat: [
      {
        width: 900,
        height: 220,
        layer: [
          {
            data: { values: partitionRows },
            mark: { type: 'line', interpolate: 'step-after' },
            encoding: {
              x,
              y: { field: 'value', type: 'quantitative', title: 'partitions' },
              color: {
                field: 'series',
                type: 'nominal',
                title: null,
                scale: {
                  domain: ['under-replicated', 'under min ISR', 'offline'],
                  range: ['#e67e22', '#16a085', '#8e44ad'],
                },
                legend: { orient: 'top', direction: 'horizontal' },
              },
            },
          },
          ...faultLayers(true),
        ],
      },
      {
        width: 900,
        height: 160,
        layer: [
          {
            data: { values: input.throughput.map((p) => ({ t: p.tSeconds, value: p.recordsPerSec })) },
            mark: { type: 'area', interpolate: 'step-after', color: '#2e86c1', opacity: 0.7 },
            encoding: { x, y: { field: 'value', type: 'quantitative', title: 'acked records/s' } },
          },
          ...faultLayers(false),
        ],
      },
    ],
  } as unknown as vl.TopLevelSpec;
}

/** Renders the chart to `<base>.svg` and `<base>.png`; returns both paths. */
export async function writeTimelineChart(input: ChartInput, base: string): Promise<{ svg: string; png: string }> {
  const compiled = vl.compile(timelineSpec(input)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 1.5 } }).render().asPng();
  const paths = { svg: `${base}.svg`, png: `${base}.png` };
  writeFileSync(paths.svg, svg);
  writeFileSync(paths.png, png);
  return paths;
}
