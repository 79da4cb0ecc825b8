import { useMutation, useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "@tanstack/react-router";
import { useState, type FormEvent } from "react";
import { ErrorBox, Field, fieldError, Loading } from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import { useSessionChanged } from "../lib/session.tsx";
import type { SessionInfo } from "../lib/types.ts";

/** An invite link: the invited user chooses a password and is signed in. */
export function InvitePage() {
  const { token } = useParams({ from: "/invite/$token" });
  const navigate = useNavigate();
  const changed = useSessionChanged();
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const invite = useQuery({
    queryKey: ["invite", token],
    queryFn: () =>
      get<{ email: string; full_name: string; expires_at: string }>(`/invites/${seg(token)}`),
  });
  const accept = useMutation({
    mutationFn: () => api<SessionInfo>("POST", `/invites/${seg(token)}/accept`, { password }),
    onSuccess: (session) => {
      changed(session);
      void navigate({ to: "/", replace: true });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setMismatch(password !== again);
    if (password === again) accept.mutate();
  };
  if (invite.isPending) return <Loading what="the invite" />;
  if (invite.error) {
    return (
      <div className="card narrow">
        <h1>Invite link</h1>
        <ErrorBox error={invite.error} />
        <p>
          <Link to="/sign-in">Sign in</Link> if you already have a password.
        </p>
      </div>
    );
  }
  return (
    <div className="card narrow">
      <h1>Choose your password</h1>
      <p>
        For <strong>{invite.data.email}</strong>. This link works once, until{" "}
        {new Date(invite.data.expires_at).toLocaleString()}.
      </p>
      <ErrorBox error={accept.error} />
      <form onSubmit={submit}>
        <input type="email" autoComplete="username" value={invite.data.email} readOnly hidden />
        <Field
          label="New password"
          hint="At least 8 characters."
          error={fieldError(accept.error, "password")}
        >
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            autoFocus
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        <Field
          label="The same password again"
          error={mismatch ? "The two passwords differ" : undefined}
        >
          <input
            type="password"
            autoComplete="new-password"
            required
            value={again}
            onChange={(e) => setAgain(e.target.value)}
          />
        </Field>
        <button type="submit" className="btn btn-primary" disabled={accept.isPending}>
          Set password and sign in
        </button>
      </form>
    </div>
  );
}
