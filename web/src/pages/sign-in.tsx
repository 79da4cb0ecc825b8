import { useMutation } from "@tanstack/react-query";
import { useNavigate, useSearch } from "@tanstack/react-router";
import { useState, type FormEvent } from "react";
import { ErrorBox, Field, fieldError } from "../components/ui.tsx";
import { api } from "../lib/api.ts";
import { useSessionChanged } from "../lib/session.tsx";
import type { SessionInfo } from "../lib/types.ts";

/** Only paths of this dashboard are followed after signing in (never another site). */
function safeRedirect(target: string | undefined): string {
  if (
    !target ||
    !target.startsWith("/") ||
    target.startsWith("//") ||
    target.startsWith("/sign-in")
  ) {
    return "/";
  }
  return target;
}

export function SignInPage() {
  const search = useSearch({ from: "/sign-in" });
  const navigate = useNavigate();
  const changed = useSessionChanged();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [token, setToken] = useState("");

  const signIn = useMutation({
    mutationFn: (body: Record<string, string>) => api<SessionInfo>("POST", "/session", body),
    onSuccess: (session) => {
      changed(session);
      void navigate({ href: safeRedirect(search.redirect), replace: true });
    },
  });
  const submit = (event: FormEvent, body: Record<string, string>) => {
    event.preventDefault();
    signIn.mutate(body);
  };

  return (
    <div className="card narrow">
      <h1>Sign in</h1>
      <ErrorBox error={signIn.error} />
      <form onSubmit={(e) => submit(e, { email, password })} aria-label="Password sign-in">
        <Field label="E-mail address" error={fieldError(signIn.error, "email")}>
          <input
            type="email"
            name="email"
            autoComplete="username"
            required
            autoFocus
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </Field>
        <Field label="Password" error={fieldError(signIn.error, "password")}>
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <button type="submit" className="btn btn-primary" disabled={signIn.isPending}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <div className="divider">
        <span>or</span>
      </div>
      <form onSubmit={(e) => submit(e, { token })} aria-label="Token sign-in">
        <Field
          label="Access token"
          hint="A personal access token (slp_…), such as the one slipway start printed for the administrator."
          error={fieldError(signIn.error, "token")}
        >
          <input
            type="password"
            name="token"
            autoComplete="off"
            spellCheck={false}
            required
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
        </Field>
        <button type="submit" className="btn" disabled={signIn.isPending}>
          Sign in with token
        </button>
      </form>
      <p className="muted small">
        First start? <code>npm start</code> printed the administrator&apos;s password and where it
        is kept (<code>.slipway/platform/admin-password</code>). Other users get an invite link from
        an administrator.
      </p>
    </div>
  );
}
