import { useMutation } from "@tanstack/react-query";
import { Link } from "@tanstack/react-router";
import { useEffect, useState, type FormEvent } from "react";
import { ErrorBox, Field, fieldError, Notice } from "../components/ui.tsx";
import { api } from "../lib/api.ts";
import { useSession } from "../lib/session.tsx";

/** Who you are, and your password (changing it signs out your other browsers). */
export function AccountPage() {
  const { user, session } = useSession();
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const change = useMutation({
    mutationFn: () => api<void>("PUT", "/user/password", { current_password: current, password }),
    onSuccess: () => {
      setCurrent("");
      setPassword("");
    },
  });
  useEffect(() => {
    document.title = "Account · Slipway";
  }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate();
  };
  return (
    <div>
      <h1>Account</h1>
      <dl className="facts">
        <div>
          <dt>E-mail</dt>
          <dd>{user.email}</dd>
        </div>
        <div>
          <dt>Name</dt>
          <dd>{user.full_name}</dd>
        </div>
        <div>
          <dt>Role</dt>
          <dd>{user.admin ? "administrator" : "member"}</dd>
        </div>
        {session ? (
          <div>
            <dt>This session</dt>
            <dd>
              signed in with{" "}
              {session.method === "token"
                ? "an access token"
                : session.method === "invite"
                  ? "an invite link"
                  : "a password"}
              , until {new Date(session.expires_at).toLocaleString()} unless used
            </dd>
          </div>
        ) : null}
      </dl>
      <section className="card narrow-card" aria-labelledby="password">
        <h2 id="password">Password</h2>
        <form onSubmit={submit}>
          <input type="email" autoComplete="username" value={user.email} readOnly hidden />
          <Field
            label="Current password"
            hint="Leave empty if you never had one."
            error={fieldError(change.error, "current_password")}
          >
            <input
              type="password"
              autoComplete="current-password"
              value={current}
              onChange={(e) => setCurrent(e.target.value)}
            />
          </Field>
          <Field
            label="New password"
            hint="At least 8 characters. Your other browsers are signed out."
            error={fieldError(change.error, "password")}
          >
            <input
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              required
            />
          </Field>
          <button type="submit" className="btn btn-primary" disabled={change.isPending}>
            Change password
          </button>
        </form>
        {change.isSuccess ? <Notice kind="ok">Your password was changed.</Notice> : null}
        <ErrorBox error={change.error} />
      </section>
      <section className="card narrow-card" aria-labelledby="audit">
        <h2 id="audit">Audit log</h2>
        <p>
          Who changed what in your accounts, and every refused attempt:{" "}
          <Link to="/account/audit">open the audit log</Link>.
        </p>
      </section>
    </div>
  );
}
