import {
  cloneElement,
  useEffect,
  useId,
  useRef,
  useState,
  type ReactElement,
  type ReactNode,
} from "react";
import { ApiError } from "../lib/api.ts";
import { formatDuration, timeAgo } from "../lib/time.ts";

/** An API error in the API's own words, kept on screen until the next attempt. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (error === null || error === undefined) return null;
  const message =
    error instanceof ApiError || error instanceof Error ? error.message : String(error);
  const retry =
    error instanceof ApiError && error.retryAfter !== undefined
      ? ` (you can try again in ${error.retryAfter} s)`
      : "";
  return (
    <div className="alert alert-error" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {message}
      {retry}
    </div>
  );
}

export function Notice({ children, kind = "info" }: { children: ReactNode; kind?: string }) {
  return (
    <div className={`alert alert-${kind}`} role="status">
      {children}
    </div>
  );
}

/** An empty list, saying what to do next. */
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children ? <div className="empty-body">{children}</div> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}

const STATE_KIND: Record<string, string> = {
  ready: "ok",
  done: "ok",
  published: "ok",
  error: "bad",
  rejected: "bad",
  failed: "bad",
  cancelled: "muted",
  canceled: "muted",
  superseded: "muted",
  skipped: "muted",
  new: "wait",
  enqueued: "wait",
  pending_review: "wait",
  building: "run",
  uploading: "run",
  uploaded: "run",
  preparing: "run",
  prepared: "run",
  processing: "run",
  processed: "run",
  retrying: "run",
  // Domains and certificates.
  active: "ok",
  custom: "ok",
  pending_dns: "wait",
  verifying: "run",
  issuing: "run",
  renewing: "run",
};

const STATE_LABEL: Record<string, string> = {
  pending_review: "waiting for approval",
  enqueued: "queued",
  pending_dns: "pending DNS",
  custom: "active",
};

export function StateBadge({ state, label }: { state: string; label?: string }) {
  const kind = STATE_KIND[state] ?? "muted";
  return (
    <span className={`badge badge-${kind}`} data-state={state}>
      {kind === "run" ? <span className="pulse" aria-hidden="true" /> : null}
      {label ?? STATE_LABEL[state] ?? state.replaceAll("_", " ")}
    </span>
  );
}

/** "3 minutes ago", refreshed every 30 s, with the exact time on hover. */
export function TimeAgo({ at }: { at: string | null | undefined }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 30_000);
    return () => clearInterval(timer);
  }, []);
  if (!at) return <span className="muted">—</span>;
  return (
    <time dateTime={at} title={new Date(at).toLocaleString()}>
      {timeAgo(at)}
    </time>
  );
}

/** The current time, updated every `ms` while `active` (running durations tick). */
function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [active, ms]);
  return now;
}

/** How long from `from` to `to`; while `to` is null, up to now, ticking. */
export function Duration({ from, to }: { from: string | null; to: string | null }) {
  const now = useNow(from !== null && to === null);
  if (!from) return <span className="muted">—</span>;
  const end = to ? Date.parse(to) : now;
  return <span>{formatDuration(Math.max(0, end - Date.parse(from)))}</span>;
}

/** Copies `text` to the clipboard and says so. */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState<"copied" | "failed" | null>(null);
  useEffect(() => {
    if (done === null) return;
    const timer = setTimeout(() => setDone(null), 2000);
    return () => clearTimeout(timer);
  }, [done]);
  return (
    <button
      type="button"
      className="btn btn-small"
      onClick={() => {
        copyText(text).then(
          () => setDone("copied"),
          () => setDone("failed"),
        );
      }}
    >
      {done === "copied" ? "Copied" : done === "failed" ? "Select and copy" : label}
    </button>
  );
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a LAN address is not a secure context: fall back to a selection.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

/** A value to copy: shown in a monospace box with a copy button. */
export function CopyField({
  label,
  value,
  secret,
}: {
  label: string;
  value: string;
  secret?: boolean;
}) {
  const [shown, setShown] = useState(!secret);
  return (
    <div className="copy-field">
      <span className="copy-label">{label}</span>
      <code className="copy-value" data-testid={`copy-${label}`}>
        {shown ? value : "•".repeat(Math.min(24, value.length))}
      </code>
      <span className="copy-actions">
        {secret ? (
          <button type="button" className="btn btn-small" onClick={() => setShown((s) => !s)}>
            {shown ? "Hide" : "Show"}
          </button>
        ) : null}
        <CopyButton text={value} />
      </span>
    </div>
  );
}

/**
 * A labelled form field: the label names the control (and only the label: hints and errors
 * are its description), and `error` marks it when the API named this field.
 */
export function Field({
  label,
  hint,
  children,
  error,
}: {
  label: string;
  hint?: ReactNode;
  children: ReactElement<{ id?: string; "aria-describedby"?: string; "aria-invalid"?: boolean }>;
  error?: string | undefined;
}) {
  const id = useId();
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div className={`field${error ? " field-error" : ""}`}>
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      {cloneElement(children, {
        id,
        ...(described ? { "aria-describedby": described } : {}),
        ...(error ? { "aria-invalid": true } : {}),
      })}
      {hint ? (
        <span className="field-hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
      {error ? (
        <span className="field-message" id={`${id}-error`} role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}

/**
 * A button that starts an API call. While the call runs it says so (`aria-disabled`) and ignores
 * presses, but stays focusable: a disabled button would drop the keyboard's focus to the page.
 */
export function ActionButton({
  busy,
  onClick,
  children,
  className = "btn",
}: {
  busy: boolean;
  onClick: () => void;
  children: ReactNode;
  className?: string;
}) {
  return (
    <button
      type="button"
      className={className}
      aria-disabled={busy || undefined}
      onClick={() => {
        if (!busy) onClick();
      }}
    >
      {children}
    </button>
  );
}

/** One fact of a `<dl className="facts">`: what it is, and its value. */
export function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** A checkbox and the sentence that says what it does, one click target. */
export function Check({
  name,
  checked,
  onChange,
  children,
  disabled,
}: {
  name?: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  children: ReactNode;
  disabled?: boolean;
}) {
  return (
    <label className="check">
      <input
        type="checkbox"
        name={name}
        checked={checked}
        disabled={disabled}
        onChange={(e) => onChange(e.target.checked)}
      />
      <span>{children}</span>
    </label>
  );
}

/**
 * `error`, unless the API named one of `fields` (or an item of one, `domain_aliases.1`): then it
 * is shown at that field, not twice.
 */
export function notAtField(error: unknown, fields: string[]): unknown {
  if (!(error instanceof ApiError) || error.field === undefined) return error;
  const field = error.field;
  return fields.some((f) => field === f || field.startsWith(`${f}.`)) ? null : error;
}

/** The field the API refused, if the error names one. */
export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError && error.field === field ? error.message : undefined;
}

/**
 * A button that asks once more before doing something that cannot be undone. The question
 * takes the focus (on Yes); No, Escape or Yes give it back to the button (when the action left
 * it in the page).
 */
export function ConfirmButton({
  children,
  confirm,
  onConfirm,
  disabled,
  className = "btn",
}: {
  children: ReactNode;
  confirm: string;
  onConfirm: () => void;
  disabled?: boolean;
  className?: string;
}) {
  const [asking, setAsking] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (asking || !refocus.current) return;
    refocus.current = false;
    button.current?.focus();
  }, [asking]);
  const close = () => {
    refocus.current = true;
    setAsking(false);
  };
  if (!asking) {
    return (
      <button
        ref={button}
        type="button"
        className={className}
        disabled={disabled}
        onClick={() => setAsking(true)}
      >
        {children}
      </button>
    );
  }
  return (
    <span
      className="confirm"
      role="group"
      aria-label={confirm}
      onKeyDown={(event) => {
        if (event.key !== "Escape") return;
        event.preventDefault();
        close();
      }}
    >
      <span className="confirm-text">{confirm}</span>
      <button
        type="button"
        className="btn btn-danger btn-small"
        autoFocus
        onClick={() => {
          close();
          onConfirm();
        }}
      >
        Yes
      </button>
      <button type="button" className="btn btn-small" onClick={close}>
        No
      </button>
    </span>
  );
}

export function ShortSha({ sha, url }: { sha: string | null; url?: string | null }) {
  if (!sha) return <span className="muted">—</span>;
  const text = <code title={sha}>{sha.slice(0, 7)}</code>;
  return url ? (
    <a href={url} target="_blank" rel="noreferrer">
      {text}
    </a>
  ) : (
    text
  );
}
