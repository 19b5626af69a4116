// The edge test harness lives in loadtest/support (the edge benchmarks use it too; loadtest/ never imports test/).
export * from '../../loadtest/support/edge-harness.ts';
