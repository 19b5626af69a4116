import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowControl, type IntakeState } from '../../edge/flow.ts';

function flowWithLog(max: number): { flow: FlowControl; changes: Array<[IntakeState, IntakeState]> } {
  const flow = new FlowControl(max);
  const changes: Array<[IntakeState, IntakeState]> = [];
  flow.onChange((state, previous) => changes.push([previous, state]));
  return { flow, changes };
}

test('the bridge starts kafka-unavailable and accepts once Kafka is reachable', () => {
  const { flow, changes } = flowWithLog(100);
  assert.equal(flow.state, 'kafka-unavailable');
  flow.setKafkaAvailable(true, 'connected');
  assert.equal(flow.state, 'accepting');
  assert.deepEqual(changes, [['kafka-unavailable', 'accepting']]);
});

test('saturated at the limit, accepting again only at 80 % (no flapping)', () => {
  const { flow, changes } = flowWithLog(100);
  flow.setKafkaAvailable(true, 'connected');
  flow.add(99);
  assert.equal(flow.state, 'accepting');
  flow.add(1);
  assert.equal(flow.state, 'saturated');
  flow.remove(10);
  assert.equal(flow.state, 'saturated', '90 in flight: still saturated');
  flow.remove(10);
  assert.equal(flow.state, 'accepting', '80 in flight: accepting');
  assert.deepEqual(changes.slice(1), [
    ['accepting', 'saturated'],
    ['saturated', 'accepting'],
  ]);
});

test('Kafka unavailable wins over saturated, and the state follows Kafka back', () => {
  const { flow } = flowWithLog(10);
  flow.setKafkaAvailable(true, 'connected');
  flow.add(10);
  flow.setKafkaAvailable(false, 'all brokers down');
  assert.equal(flow.state, 'kafka-unavailable');
  flow.remove(10);
  assert.equal(flow.state, 'kafka-unavailable', 'records settling does not hide a Kafka outage');
  flow.setKafkaAvailable(true, 'delivery report');
  assert.equal(flow.state, 'accepting');
  assert.equal(flow.recordsInFlight, 0);
});
