// The aggregator test harness lives in loadtest/support (bench:aggregator uses it too; loadtest/ never imports test/).
export * from '../../loadtest/support/aggregator-harness.ts';
