import { useMutation } from "@tanstack/react-query";
import { useEffect } from "react";
import { Link, Navigate, Outlet, useLocation, useNavigate } from "@tanstack/react-router";
import { api } from "../lib/api.ts";
import {
  SessionProvider,
  useSession,
  useSessionChanged,
  useSessionQuery,
} from "../lib/session.tsx";
import { ErrorBox, Loading } from "./ui.tsx";

/** Pages anyone may open (no session needed). */
const PUBLIC_PATHS = [/^\/sign-in\/?$/, /^\/invite\//];

/**
 * Keeps the keyboard's place: when the focused element leaves the page (a link to another page,
 * a deleted row, a closed question), the focus goes to the page's main content, not to the top
 * of the document.
 */
function useFocusKeeper(): void {
  useEffect(() => {
    let focused: Element | null = null;
    const onFocusIn = (event: FocusEvent) => {
      focused = event.target instanceof Element ? event.target : null;
    };
    // Browsers differ on whether removing the focused element fires focusout: watch the page.
    const observer = new MutationObserver(() => {
      if (focused === null || focused.isConnected) return;
      focused = null;
      const active = document.activeElement;
      if (active !== null && active !== document.body) return;
      document.getElementById("main")?.focus({ preventScroll: true });
    });
    document.addEventListener("focusin", onFocusIn);
    observer.observe(document.body, { childList: true, subtree: true });
    return () => {
      document.removeEventListener("focusin", onFocusIn);
      observer.disconnect();
    };
  }, []);
}

export function RootLayout() {
  const location = useLocation();
  const session = useSessionQuery();
  useFocusKeeper();
  if (PUBLIC_PATHS.some((pattern) => pattern.test(location.pathname))) {
    return (
      <div className="public">
        <main id="main" className="public-main">
          <Brand />
          <Outlet />
        </main>
      </div>
    );
  }
  if (session.isPending) {
    return (
      <main id="main" className="page">
        <Loading what="your session" />
      </main>
    );
  }
  if (session.error) {
    return (
      <main id="main" className="page">
        <ErrorBox error={session.error} title="Slipway could not say who you are" />
      </main>
    );
  }
  if (!session.data) {
    return <Navigate to="/sign-in" search={{ redirect: location.href }} replace />;
  }
  return (
    <SessionProvider session={session.data}>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" className="page" tabIndex={-1}>
        <Outlet />
      </main>
    </SessionProvider>
  );
}

function Brand() {
  return (
    <Link to="/" className="brand" aria-label="Slipway: your sites">
      <img src="/favicon.svg" alt="" width="24" height="24" />
      <span>Slipway</span>
    </Link>
  );
}

function Header() {
  const { user } = useSession();
  const changed = useSessionChanged();
  const navigate = useNavigate();
  const signOut = useMutation({
    mutationFn: () => api<void>("DELETE", "/session"),
    onSettled: () => {
      changed(null);
      void navigate({ to: "/sign-in" });
    },
  });
  return (
    <header className="topbar">
      <Brand />
      <nav aria-label="Main" className="topnav">
        <Link to="/" activeOptions={{ exact: true }} activeProps={{ className: "active" }}>
          Sites
        </Link>
        <Link to="/new" activeProps={{ className: "active" }}>
          New site
        </Link>
        {user.admin ? (
          <Link to="/users" activeProps={{ className: "active" }}>
            Users
          </Link>
        ) : null}
        <Link to="/account/tokens" activeProps={{ className: "active" }}>
          <span className="wide-only">Access tokens</span>
          <span className="narrow-only">Tokens</span>
        </Link>
        <Link to="/account" activeOptions={{ exact: true }} activeProps={{ className: "active" }}>
          Account
        </Link>
      </nav>
      <div className="topbar-user">
        <span className="muted user-email" title={user.email}>
          {user.email}
        </span>
        <button
          type="button"
          className="btn btn-small"
          onClick={() => signOut.mutate()}
          disabled={signOut.isPending}
        >
          Sign out
        </button>
      </div>
    </header>
  );
}

export function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        There is no page at this address. <Link to="/">Go to your sites</Link>.
      </p>
    </div>
  );
}
