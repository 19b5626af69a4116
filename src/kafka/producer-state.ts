import { KafkaProduceError } from './produce-error.ts';

export type ProducerState = 'created' | 'connecting' | 'ready' | 'recreating' | 'closing' | 'closed';

/** The lifecycle as a table: an event in a state that does not allow it is a bug, not a shrug. */
const TRANSITIONS: Readonly<Record<ProducerState, readonly ProducerState[]>> = {
  created: ['connecting', 'closing'],
  connecting: ['ready', 'closing'],
  ready: ['recreating', 'closing'],
  recreating: ['ready', 'closing'],
  closing: ['closed'],
  closed: [],
};

/** `to`, when the table allows going there from `from`; otherwise a KAFKA_PRODUCER_STATE error. */
export function nextState(from: ProducerState, to: ProducerState): ProducerState {
  if (!TRANSITIONS[from].includes(to)) {
    throw new KafkaProduceError('KAFKA_PRODUCER_STATE', `producer cannot go from ${from} to ${to}`, {
      retriable: false,
      context: { from, to },
    });
  }
  return to;
}
