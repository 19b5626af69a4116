import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckQueue, type AckTicket } from '../../edge/ack-queue.ts';

function queueWithLog(): { queue: AckQueue; released: number[] } {
  const released: number[] = [];
  const queue = new AckQueue((ticket: AckTicket) => released.push(ticket.messageId));
  return { queue, released };
}

test('PUBACKs are released in receipt order, each after its message settled', () => {
  const { queue, released } = queueWithLog();
  const [a, b, c] = [1, 2, 3].map((id) => queue.add(id, 0)) as [AckTicket, AckTicket, AckTicket];
  for (const ticket of [a, b, c]) queue.pubackReady(ticket, { cmd: 'puback', messageId: ticket.messageId });
  queue.settle(c, true);
  queue.settle(b, true);
  assert.deepEqual(released, [], 'nothing before the first message settled');
  queue.settle(a, true);
  assert.deepEqual(released, [1, 2, 3]);
  assert.equal(queue.waiting, 0);
});

test('a ticket settles before mqtt.js handed over its PUBACK: released once the PUBACK arrives', () => {
  const { queue, released } = queueWithLog();
  const ticket = queue.add(7, 0);
  queue.settle(ticket, true);
  assert.deepEqual(released, []);
  queue.pubackReady(ticket, { cmd: 'puback', messageId: 7 });
  assert.deepEqual(released, [7]);
});

test('a failed ticket is never released and blocks every later one', () => {
  const { queue, released } = queueWithLog();
  const tickets = [1, 2, 3].map((id) => queue.add(id, 0));
  for (const ticket of tickets) queue.pubackReady(ticket, {});
  queue.settle(tickets[0]!, true);
  queue.settle(tickets[1]!, false);
  queue.settle(tickets[2]!, true);
  assert.deepEqual(released, [1]);
  assert.equal(queue.blocked, true);
  queue.settle(tickets[1]!, true); // a late success does not undo a failure
  assert.deepEqual(released, [1]);
  assert.equal(queue.clear(), 2);
  assert.equal(queue.blocked, false);
});

test('many releases keep the queue compact and in order', () => {
  const { queue, released } = queueWithLog();
  const tickets = Array.from({ length: 5000 }, (_, id) => queue.add(id, 0));
  for (const ticket of tickets) queue.pubackReady(ticket, {});
  for (const ticket of [...tickets].reverse()) queue.settle(ticket, true);
  assert.equal(released.length, 5000);
  assert.ok(released.every((id, index) => id === index));
});

test('a ticket told its publish outcome settles itself through the function given at add()', () => {
  const { queue, released } = queueWithLog();
  const outcomes: Array<[number, boolean]> = [];
  const settle = (ticket: AckTicket, ok: boolean): void => {
    outcomes.push([ticket.messageId, ok]);
    queue.settle(ticket, ok);
  };
  const good = queue.add(1, 0, settle);
  const bad = queue.add(2, 0, settle);
  for (const ticket of [good, bad]) queue.pubackReady(ticket, { cmd: 'puback', messageId: ticket.messageId });
  good.published({ ok: true });
  bad.published({ ok: false });
  assert.deepEqual(outcomes, [[1, true], [2, false]]);
  assert.deepEqual(released, [1], 'the failed one is never released');
  assert.equal(queue.blocked, true);
});
