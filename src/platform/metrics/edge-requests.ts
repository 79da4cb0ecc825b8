import type { Metric, Registry } from "prom-client";
import { statusClass } from "../../lib/metrics.ts";

/**
 * The edge's two per-request metrics, `slipway_edge_requests_total{class}` and
 * `slipway_edge_request_duration_seconds`, kept as plain numbers and handed to prom-client only
 * when scraped: prom-client's own counter and histogram take ~0.5 µs per request together
 * (label hashing, bucket objects), a few percent of a small file's ~15 µs; this takes a few
 * increments and one bucket search.
 */

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
/** Upper bounds (seconds) of the latency buckets, `+Inf` implied. */
export const EDGE_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
] as const;

export class EdgeRequestMetrics {
  private readonly byClass = [0, 0, 0, 0, 0];
  /** Per bucket, not cumulative; the last one is `+Inf`. */
  private readonly buckets = new Array<number>(EDGE_BUCKETS.length + 1).fill(0);
  private sum = 0;
  private count = 0;

  constructor(registry: Registry) {
    const counter = {
      name: "slipway_edge_requests_total",
      help: "Requests the edge answered, by status class (2xx, 3xx, 4xx, 5xx).",
      type: "counter",
      aggregator: "sum",
      get: () => ({
        name: counter.name,
        help: counter.help,
        type: counter.type,
        aggregator: "sum",
        values: CLASSES.map((name, i) => ({ labels: { class: name }, value: this.byClass[i]! })),
      }),
    };
    const histogram = {
      name: "slipway_edge_request_duration_seconds",
      help: "Time the edge took to answer a request (until the body was handed to the socket).",
      type: "histogram",
      aggregator: "sum",
      get: () => {
        const values = [];
        let cumulative = 0;
        for (let i = 0; i <= EDGE_BUCKETS.length; i++) {
          cumulative += this.buckets[i]!;
          values.push({
            metricName: `${histogram.name}_bucket`,
            labels: { le: i < EDGE_BUCKETS.length ? EDGE_BUCKETS[i]! : "+Inf" },
            value: cumulative,
          });
        }
        values.push({ metricName: `${histogram.name}_sum`, labels: {}, value: this.sum });
        values.push({ metricName: `${histogram.name}_count`, labels: {}, value: this.count });
        return {
          name: histogram.name,
          help: histogram.help,
          type: histogram.type,
          aggregator: "sum",
          values,
        };
      },
    };
    registry.registerMetric(counter as unknown as Metric);
    registry.registerMetric(histogram as unknown as Metric);
  }

  /** One answer: its status and when the request began (`performance.now()`). */
  served(status: number, startedMs: number): void {
    this.byClass[CLASS_INDEX[statusClass(status)]]!++;
    const seconds = (performance.now() - startedMs) / 1000;
    let bucket = 0;
    while (bucket < EDGE_BUCKETS.length && seconds > EDGE_BUCKETS[bucket]!) bucket++;
    this.buckets[bucket]!++;
    this.sum += seconds;
    this.count++;
  }
}

const CLASS_INDEX = { "1xx": 0, "2xx": 1, "3xx": 2, "4xx": 3, "5xx": 4 } as const;
