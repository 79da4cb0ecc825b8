import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { CopyField, ErrorBox, Field, fieldError, Loading, TimeAgo } from "../components/ui.tsx";
import { api, get, seg } from "../lib/api.ts";
import { useSession } from "../lib/session.tsx";
import type { AdminUser } from "../lib/types.ts";

interface Invite {
  url: string;
  email: string;
  expires_at: string;
}

/** Administrators: the users, a new user, and invite links with which users set their password. */
export function UsersPage() {
  const { user } = useSession();
  const client = useQueryClient();
  const users = useQuery({
    queryKey: ["admin-users"],
    queryFn: () => get<AdminUser[]>("/admin/users"),
    enabled: user.admin,
  });
  const [email, setEmail] = useState("");
  const [fullName, setFullName] = useState("");
  const [invite, setInvite] = useState<Invite | null>(null);
  const inviteFor = useMutation({
    mutationFn: (id: string) => api<Invite>("POST", `/admin/users/${seg(id)}/invite`),
    onSuccess: setInvite,
  });
  const create = useMutation({
    mutationFn: async () => {
      const created = await api<{ user: { id: string } }>("POST", "/admin/users", {
        email: email.trim(),
        ...(fullName.trim() ? { full_name: fullName.trim() } : {}),
      });
      return api<Invite>("POST", `/admin/users/${seg(created.user.id)}/invite`);
    },
    onSuccess: async (made) => {
      setInvite(made);
      setEmail("");
      setFullName("");
      await client.invalidateQueries({ queryKey: ["admin-users"] });
    },
  });
  useEffect(() => {
    document.title = "Users · Slipway";
  }, []);
  if (!user.admin)
    return <ErrorBox error={new Error("Only platform administrators may manage users")} />;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <div>
      <h1>Users</h1>
      <section className="card" aria-labelledby="new-user">
        <h2 id="new-user">New user</h2>
        <p className="muted">
          Each user gets an account of their own (their sites are theirs) and an invite link to
          choose a password.
        </p>
        <form className="inline-form" onSubmit={submit}>
          <Field label="E-mail" error={fieldError(create.error, "email")}>
            <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
          </Field>
          <Field label="Name">
            <input value={fullName} onChange={(e) => setFullName(e.target.value)} />
          </Field>
          <button type="submit" className="btn btn-primary" disabled={create.isPending}>
            Create and invite
          </button>
        </form>
        <ErrorBox error={create.error ?? inviteFor.error} />
        {invite ? (
          <div className="alert alert-ok" role="status">
            <strong>Send this link to {invite.email}</strong> (it works once, until{" "}
            {new Date(invite.expires_at).toLocaleString()}):
            <CopyField label="Invite link" value={invite.url} />
          </div>
        ) : null}
      </section>
      <ErrorBox error={users.error} />
      {users.isPending ? <Loading what="users" /> : null}
      {users.data ? (
        <div className="table-wrap">
          <table className="table" aria-label="Users">
            <thead>
              <tr>
                <th>User</th>
                <th>Password</th>
                <th>Last sign-in</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.email} {u.admin ? <span className="badge badge-muted">admin</span> : null}
                    <div className="muted small">{u.full_name}</div>
                  </td>
                  <td>{u.has_password ? "set" : <span className="muted">none yet</span>}</td>
                  <td>
                    <TimeAgo at={u.last_login} />
                  </td>
                  <td>
                    <button
                      type="button"
                      className="btn btn-small"
                      onClick={() => inviteFor.mutate(u.id)}
                    >
                      {u.has_password ? "Password reset link" : "Invite link"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
