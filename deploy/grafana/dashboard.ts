/**
 * The Grafana dashboard of the pipeline, one row per stage in the order the data flows
 * (devices/MQTT → edge bridge → Kafka → aggregator → ClickHouse sink → SLA). Written as code so
 * that panels share one layout and style; deploy/render.ts writes it to
 * deploy/grafana/telemetry-pipeline.json, and test/unit/deploy-dashboard.test.ts checks every
 * expression against the metrics the services register.
 *
 * The datasource is a template variable (DS_PROMETHEUS), so the file works both when imported
 * through the UI and when provisioned from disk.
 */
import { DATASOURCE, rows, type DashboardOptions, type PanelSpec } from './dashboard-rows.ts';

export { SLA_BUDGET, SLA_SECONDS, type DashboardOptions } from './dashboard-rows.ts';
const PANEL_HEIGHT = 8;
const DEFAULT_WIDTH = 8;

export function renderDashboard(options: DashboardOptions): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows(options)) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    for (const spec of row.panels) {
      const width = spec.width ?? DEFAULT_WIDTH;
      if (x + width > 24) {
        x = 0;
        y += PANEL_HEIGHT;
      }
      panels.push(panel(spec, id++, { h: PANEL_HEIGHT, w: width, x, y }));
      x += width;
    }
    y += PANEL_HEIGHT;
  }
  return {
    uid: 'telemetry-pipeline',
    title: 'Telemetry pipeline',
    description: 'Devices → MQTT/HTTP → edge bridge → Kafka → windowed aggregator → ClickHouse, with the end-to-end SLA.',
    tags: ['telemetry-pipeline'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: {
      list: [
        { name: 'DS_PROMETHEUS', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, regex: '', options: [] },
        {
          name: 'pipeline',
          label: 'Pipeline',
          type: 'query',
          datasource: DATASOURCE,
          definition: 'label_values(tp_agg_readings_total, pipeline)',
          query: { query: 'label_values(tp_agg_readings_total, pipeline)', refId: 'PrometheusVariableQueryEditor-VariableQuery' },
          multi: true,
          includeAll: true,
          current: { selected: true, text: ['All'], value: ['$__all'] },
          refresh: 2,
          sort: 1,
          hide: 0,
          regex: '',
          options: [],
        },
      ],
    },
    panels,
  };
}

function panel(spec: PanelSpec, id: number, gridPos: { h: number; w: number; x: number; y: number }): Record<string, unknown> {
  const type = spec.type ?? 'timeseries';
  const steps: Record<string, unknown>[] = [{ color: 'green', value: null }];
  if (spec.threshold !== undefined) steps.push({ color: 'red', value: spec.threshold });
  const custom = type === 'timeseries' ? { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', spanNulls: false, thresholdsStyle: { mode: spec.threshold === undefined ? 'off' : 'line' } } : {};
  return {
    id,
    type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: {
      defaults: { unit: spec.unit ?? 'short', custom, thresholds: { mode: 'absolute', steps } },
      overrides: [],
    },
    options:
      type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto' }
        : { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    targets: spec.queries.map((query, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
      range: true,
      editorMode: 'code',
    })),
  };
}
