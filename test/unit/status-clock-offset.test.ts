import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusHistory } from '../../src/status/history.ts';
import type { Observation } from '../../src/status/observation.ts';
import { parsePrometheusText } from '../../src/status/prom-text.ts';
import { buildStatus } from '../../src/status/view.ts';

/** The status page shows each bridge's clock offset to the broker, from the metrics it scrapes. */
const bridgeText = (offset: string) =>
  ['# TYPE tp_edge_clock_offset_seconds gauge', `tp_edge_clock_offset_seconds ${offset}`, '# TYPE tp_edge_clock_offset_bound_seconds gauge', 'tp_edge_clock_offset_bound_seconds 2', ''].join('\n');

test('each bridge shows its own clock offset and bound; one not measured yet (NaN) or down shows none', () => {
  const observation: Observation = {
    at: 1_764_000_000_000,
    aggregator: [],
    bridges: [
      { url: 'http://skewed', samples: parsePrometheusText(bridgeText('-30.004')), error: null },
      { url: 'http://right', samples: parsePrometheusText(bridgeText('0.003')), error: null },
      { url: 'http://starting', samples: parsePrometheusText(bridgeText('NaN')), error: null },
      { url: 'http://down', samples: null, error: 'connection refused' },
    ],
    runners: [],
    groups: [],
    groupsError: null,
  };
  const history = new StatusHistory({ maxPoints: 3, p95WindowMs: 10_000 });
  history.record(observation);
  const status = buildStatus(observation, history, { instance: 'a', slaP95Ms: 10_000, p95WindowMs: 10_000, readingsTopic: 't', partitions: 1, kafkaProtocol: 'sasl_ssl', clientIdPrefix: 'c', pipelines: [] });
  const offsets = status.topology.bridges.map((bridge) => [bridge.url, bridge.clockOffsetSeconds, bridge.clockOffsetBoundSeconds]);
  assert.deepEqual(offsets, [
    ['http://skewed', -30.004, 2],
    ['http://right', 0.003, 2],
    ['http://starting', null, 2],
    ['http://down', null, null],
  ]);
});

test('a bridge with Sparkplug B nodes shows them by state (a DEATH shows as offline); one without shows none', () => {
  const sparkplugText = [
    '# TYPE tp_edge_sparkplug_edge_nodes gauge',
    'tp_edge_sparkplug_edge_nodes{state="online"} 3',
    'tp_edge_sparkplug_edge_nodes{state="offline"} 1',
    'tp_edge_sparkplug_edge_nodes{state="needs-rebirth"} 0',
    '# TYPE tp_edge_sparkplug_devices gauge',
    'tp_edge_sparkplug_devices{state="online"} 5',
    'tp_edge_sparkplug_devices{state="offline"} 2',
    '',
  ].join('\n');
  const observation: Observation = {
    at: 1_764_000_000_000,
    aggregator: [],
    bridges: [
      { url: 'http://spb', samples: parsePrometheusText(bridgeText('0') + sparkplugText), error: null },
      { url: 'http://json', samples: parsePrometheusText(bridgeText('0')), error: null },
    ],
    runners: [],
    groups: [],
    groupsError: null,
  };
  const history = new StatusHistory({ maxPoints: 3, p95WindowMs: 10_000 });
  history.record(observation);
  const status = buildStatus(observation, history, { instance: 'a', slaP95Ms: 10_000, p95WindowMs: 10_000, readingsTopic: 't', partitions: 1, kafkaProtocol: 'sasl_ssl', clientIdPrefix: 'c', pipelines: [] });
  assert.deepEqual(status.topology.bridges.map((bridge) => bridge.sparkplug), [
    { nodes: { online: 3, offline: 1, 'needs-rebirth': 0 }, devices: { online: 5, offline: 2 } },
    null,
  ]);
});
