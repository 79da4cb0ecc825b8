import { useVirtualizer } from "@tanstack/react-virtual";
import {
  memo,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
  type CSSProperties,
} from "react";
import { parseAnsi, type AnsiStyle } from "../lib/ansi.ts";
import { LogStore } from "../lib/log-store.ts";
import { followLog, type StreamEnd, type StreamStatus } from "../lib/log-stream.ts";
import { clock, formatDuration } from "../lib/time.ts";
import type { LogLine } from "../lib/types.ts";

const ROW_HEIGHT = 20;

function styleOf(style: AnsiStyle): CSSProperties | undefined {
  if (Object.keys(style).length === 0) return undefined;
  return {
    ...(style.fg ? { color: style.fg } : {}),
    ...(style.bg ? { backgroundColor: style.bg } : {}),
    ...(style.bold ? { fontWeight: 700 } : {}),
    ...(style.dim ? { opacity: 0.7 } : {}),
    ...(style.italic ? { fontStyle: "italic" } : {}),
    ...(style.underline ? { textDecoration: "underline" } : {}),
  };
}

const Line = memo(function Line({ line, number }: { line: LogLine; number: number }) {
  const { runs } = parseAnsi(line.message);
  return (
    <>
      <span className="log-no" aria-hidden="true">
        {number}
      </span>
      <span className="log-time">{clock(line.time)}</span>
      <span className="log-text">
        {runs.map((run, i) => (
          <span key={i} style={styleOf(run.style)}>
            {run.text}
          </span>
        ))}
      </span>
    </>
  );
});

export interface LogViewerProps {
  buildId: string;
  /** Called once the stream says the build is over (its final state). */
  onEnd?: (end: StreamEnd) => void;
}

const STATUS_TEXT: Record<StreamStatus, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "connection lost, resuming…",
  ended: "complete",
};

/**
 * A build's log, live: streamed over SSE (resumed after a dropped connection without losing or
 * repeating a line), coloured (ANSI), sectioned with each section's time, virtualised (only the
 * visible rows exist in the page, so 100,000 lines scroll smoothly), following the end until
 * you scroll up.
 */
export function LogViewer({ buildId, onEnd }: LogViewerProps) {
  const storeRef = useRef<LogStore>(new LogStore());
  const [version, setVersion] = useState(0);
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const [follow, setFollow] = useState(true);
  const scrollRef = useRef<HTMLDivElement>(null);
  const onEndRef = useRef(onEnd);
  useEffect(() => {
    onEndRef.current = onEnd;
  }, [onEnd]);

  useEffect(() => {
    const store = new LogStore();
    storeRef.current = store;
    setVersion((v) => v + 1);
    return followLog(buildId, {
      onLines: (lines) => {
        if (store.append(lines) > 0) {
          setVersion((v) => v + 1);
          // For measurements (bench/dashboard.ts): when each batch reached the page.
          window.dispatchEvent(new CustomEvent("slipway:log-lines", { detail: lines }));
        }
      },
      onStatus: setStatus,
      onEnd: (end) => onEndRef.current?.(end),
    });
  }, [buildId]);

  const store = storeRef.current;
  const count = store.lines.length;
  // eslint-disable-next-line react-hooks/incompatible-library -- only this component uses it
  const virtualizer = useVirtualizer({
    count,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 30,
  });

  // Follow the end while following; scrolling up stops following, reaching the end resumes it.
  useLayoutEffect(() => {
    if (follow && count > 0) virtualizer.scrollToIndex(count - 1, { align: "end" });
  }, [follow, count, version, virtualizer]);

  const onScroll = useCallback(() => {
    const el = scrollRef.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 2;
    setFollow(atEnd);
  }, []);

  const sections = store.sections;
  return (
    <section className="log" aria-label="Build log">
      <div className="log-toolbar">
        <ol className="log-sections" aria-label="Build stages">
          {sections.map((section, index) => (
            <li key={`${section.name}-${section.start}`}>
              <button
                type="button"
                className={`log-section-btn${section.errors > 0 ? " has-errors" : ""}`}
                onClick={() => {
                  setFollow(false);
                  virtualizer.scrollToIndex(section.start, { align: "start" });
                }}
              >
                <span className="log-section-name">{section.name.replaceAll("_", " ")}</span>{" "}
                <span className="muted">{formatDuration(store.sectionDuration(index))}</span>
              </button>
            </li>
          ))}
        </ol>
        <span className={`log-status log-status-${status}`} role="status" data-status={status}>
          {STATUS_TEXT[status]} · {count.toLocaleString()} lines
        </span>
        {!follow ? (
          <button type="button" className="btn btn-small" onClick={() => setFollow(true)}>
            Follow the end
          </button>
        ) : null}
        <a
          className="btn btn-small"
          href={`/api/v1/builds/${encodeURIComponent(buildId)}/log?format=ndjson`}
          target="_blank"
          rel="noreferrer"
        >
          Raw log
        </a>
      </div>
      <div
        ref={scrollRef}
        className="log-scroll"
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-live="off"
        aria-label="Build log lines"
        data-lines={count}
        style={{ "--log-digits": Math.max(4, String(count).length) } as CSSProperties}
      >
        {count === 0 ? (
          <p className="log-empty muted">
            {status === "ended" ? "This build wrote no log." : "Waiting for the build to start…"}
          </p>
        ) : (
          <div className="log-inner" style={{ height: virtualizer.getTotalSize() }}>
            {virtualizer.getVirtualItems().map((item) => {
              const line = store.lines[item.index];
              if (!line) return null;
              const first = sections.find((s) => s.start === item.index);
              return (
                <div
                  key={line.seq}
                  className={`log-row${line.error ? " log-error" : ""}${first ? " log-section-start" : ""}`}
                  data-section={line.section}
                  style={{ transform: `translateY(${item.start}px)` }}
                >
                  <Line line={line} number={item.index + 1} />
                </div>
              );
            })}
          </div>
        )}
      </div>
    </section>
  );
}
