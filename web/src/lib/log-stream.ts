import type { LogLine } from "./types.ts";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "ended";

export interface StreamEnd {
  state: string;
  error: string | null;
}

export interface LogStreamHandlers {
  onLines(lines: LogLine[]): void;
  onEnd(end: StreamEnd): void;
  onStatus(status: StreamStatus): void;
}

/**
 * Follows a build's log over Server-Sent Events (`/builds/:id/log/stream?batch=true`: each event
 * a batch of lines whose `id` is the last one's sequence number), so after a dropped connection
 * the browser resumes with `Last-Event-ID`;
 * when the browser gives up (an HTTP error), the stream is reopened here from the last line
 * received (`?since=`). Lines are handed over in batches (at most one per animation frame, or
 * every 250 ms in a hidden tab), never lost, never twice.
 */
export function followLog(buildId: string, handlers: LogStreamHandlers, since = -1): () => void {
  let last = since;
  let source: EventSource | undefined;
  let closed = false;
  let pending: LogLine[] = [];
  let scheduled = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let retryDelay = 1000;

  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    handlers.onLines(batch);
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    if (document.visibilityState === "visible") requestAnimationFrame(flush);
    else setTimeout(flush, 250);
  };

  const open = () => {
    if (closed) return;
    handlers.onStatus(last < 0 ? "connecting" : "reconnecting");
    // Batched: one event per read of up to 500 lines (a 100,000-line log is 200 events).
    const url = `/api/v1/builds/${encodeURIComponent(buildId)}/log/stream?batch=true&since=${last}`;
    const es = new EventSource(url, { withCredentials: true });
    source = es;
    es.onopen = () => {
      retryDelay = 1000;
      handlers.onStatus("live");
    };
    es.addEventListener("lines", (event) => {
      const lines = JSON.parse((event as MessageEvent<string>).data) as LogLine[];
      for (const line of lines) {
        if (line.seq <= last) continue;
        last = line.seq;
        pending.push(line);
      }
      schedule();
    });
    es.addEventListener("end", (event) => {
      flush();
      closed = true;
      es.close();
      handlers.onStatus("ended");
      handlers.onEnd(JSON.parse((event as MessageEvent<string>).data) as StreamEnd);
    });
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CONNECTING) {
        handlers.onStatus("reconnecting"); // the browser retries with Last-Event-ID
        return;
      }
      es.close();
      handlers.onStatus("reconnecting");
      retryTimer = setTimeout(open, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30_000);
    };
  };
  open();

  return () => {
    closed = true;
    if (retryTimer) clearTimeout(retryTimer);
    source?.close();
  };
}
