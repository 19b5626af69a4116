/** A duration in milliseconds as the load tests' reports print it: seconds with one decimal ("12.3 s"). */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
