// Lives in loadtest/support (the aggregator benchmark uses it too; loadtest/ never imports test/).
export * from '../../loadtest/support/readings-dataset.ts';
