import { act, render, screen, within } from "@testing-library/react";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { LogLine } from "../lib/types.ts";
import { LogViewer } from "./log-viewer.tsx";

/** The browser's EventSource, as the server would drive it: the test sends the events. */
class FakeEventSource {
  static opened: FakeEventSource[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = FakeEventSource.CONNECTING;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, ((event: MessageEvent<string>) => void)[]>();

  constructor(readonly url: string) {
    FakeEventSource.opened.push(this);
  }
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }
  open(): void {
    this.readyState = FakeEventSource.OPEN;
    this.onopen?.();
  }
  send(type: string, data: unknown): void {
    const event = new MessageEvent(type, { data: JSON.stringify(data) });
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, 0, ms)).toISOString();
const line = (
  seq: number,
  section: string,
  message: string,
  ms: number,
  error = false,
): LogLine => ({
  seq,
  time: at(ms),
  section,
  message,
  error,
});

/** Sends a batch of lines, then lets the viewer take them (one animation frame). */
async function deliver(source: FakeEventSource, lines: LogLine[]) {
  await act(async () => {
    source.send("lines", lines);
    await new Promise((resolve) => requestAnimationFrame(resolve));
  });
}

beforeEach(() => {
  FakeEventSource.opened = [];
  vi.stubGlobal("EventSource", FakeEventSource);
  // jsdom lays nothing out: the log gets a size, so that its visible rows are rendered.
  vi.spyOn(Element.prototype, "clientHeight", "get").mockReturnValue(400);
  vi.spyOn(Element.prototype, "clientWidth", "get").mockReturnValue(800);
});

describe("the build log viewer", () => {
  it("asks for the build's batched stream from the start", () => {
    render(<LogViewer buildId="b1" />);
    expect(FakeEventSource.opened.map((s) => s.url)).toEqual([
      "/api/v1/builds/b1/log/stream?batch=true&since=-1",
    ]);
  });

  it("renders ANSI colours as styled text, never as markup", async () => {
    render(<LogViewer buildId="b1" />);
    const source = FakeEventSource.opened[0]!;
    act(() => source.open());
    await deliver(source, [
      line(0, "building", "\u001b[32mgreen\u001b[0m plain \u001b[1;31mbold red\u001b[0m", 0),
      line(1, "building", "<b>not bold</b> \u001b]0;title\u0007\u001b[2Kafter", 5),
    ]);
    const log = screen.getByRole("log", { name: "Build log lines" });
    const green = within(log).getByText("green");
    expect(green.style.color).toBe("var(--ansi-green)");
    const bold = within(log).getByText("bold red");
    expect(bold.style.fontWeight).toBe("700");
    expect(bold.style.color).toBe("var(--ansi-red)");
    expect(within(log).getByText(/plain/).getAttribute("style")).toBeNull();
    // Markup in a line is text; other escapes (a title, erase line) are dropped.
    expect(log.querySelector("b")).toBeNull();
    expect(within(log).getByText("<b>not bold</b> after")).toBeTruthy();
    expect(log.textContent).not.toContain("\u001b");
  });

  it("stages the log by section, with each section's time and its errors marked", async () => {
    render(<LogViewer buildId="b1" />);
    const source = FakeEventSource.opened[0]!;
    await deliver(source, [
      line(0, "initializing", "Build ready to start", 0),
      line(1, "building", "$ sh build.sh", 120),
      line(2, "building", "compiling", 1_000),
    ]);
    // A resumed stream repeats what it sent last: each line is shown once.
    await deliver(source, [
      line(2, "building", "compiling", 1_000),
      line(3, "building", "exit 3", 2_620, true),
      line(4, "cleanup", "Failing build", 2_700, true),
    ]);
    const stages = screen.getByRole("list", { name: "Build stages" });
    const buttons = within(stages).getAllByRole("button");
    expect(buttons.map((b) => b.textContent)).toEqual([
      "initializing 120 ms",
      "building 2.6 s",
      "cleanup 0 ms",
    ]);
    expect(buttons.map((b) => b.classList.contains("has-errors"))).toEqual([false, true, true]);
    const log = screen.getByRole("log", { name: "Build log lines" });
    expect(log.getAttribute("data-lines")).toBe("5");
    expect(log.querySelectorAll(".log-error")).toHaveLength(2);
    expect(log.querySelectorAll(".log-section-start")).toHaveLength(3);
  });

  it("says when the log is complete, and hands over the build's end", async () => {
    const onEnd = vi.fn();
    render(<LogViewer buildId="b1" onEnd={onEnd} />);
    const source = FakeEventSource.opened[0]!;
    act(() => source.open());
    expect(screen.getByRole("status").textContent).toBe("live · 0 lines");
    await deliver(source, [line(0, "building", "done", 0)]);
    act(() => source.send("end", { state: "done", done: true, error: null }));
    expect(screen.getByRole("status").textContent).toBe("complete · 1 lines");
    expect(onEnd).toHaveBeenCalledWith({ state: "done", done: true, error: null });
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
  });
});
