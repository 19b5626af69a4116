import { PipelineError } from '../core/errors.ts';

export type ProduceErrorCode =
  | 'KAFKA_DELIVERY_FAILED'
  | 'KAFKA_DELIVERY_INDEFINITE'
  | 'KAFKA_QUEUE_FULL'
  | 'KAFKA_NOT_READY'
  | 'KAFKA_PRODUCER_CLOSED'
  | 'KAFKA_FLUSH_TIMEOUT'
  | 'KAFKA_METADATA'
  | 'KAFKA_PRODUCER_STATE';

export class KafkaProduceError extends PipelineError {
  /** True when the record may or may not have been written (timeout, fatal error, shutdown). */
  readonly indefinite: boolean;
  constructor(
    code: ProduceErrorCode,
    message: string,
    options: { retriable: boolean; indefinite?: boolean; context?: Record<string, string | number | boolean | null>; cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'KafkaProduceError';
    this.indefinite = options.indefinite ?? false;
  }
}

export type DeliveryCallback = (error: KafkaProduceError | undefined) => void;

/**
 * The same as a DeliveryCallback, as an object: on a hot path one object per message can receive
 * the reports of all of its records, where closures would be allocated per message.
 */
export interface DeliveryReceiver {
  delivered(error: KafkaProduceError | undefined): void;
}

export type Receiver = DeliveryCallback | DeliveryReceiver;

export function deliver(receiver: Receiver, error: KafkaProduceError | undefined): void {
  if (typeof receiver === 'function') receiver(error);
  else receiver.delivered(error);
}
