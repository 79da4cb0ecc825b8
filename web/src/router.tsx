import { createRootRoute, createRoute, createRouter } from "@tanstack/react-router";
import { NotFound, RootLayout } from "./components/layout.tsx";
import { AccountPage } from "./pages/account.tsx";
import { AuditPage } from "./pages/audit.tsx";
import { DeliveriesPage } from "./pages/deliveries.tsx";
import { DeployPage } from "./pages/deploy.tsx";
import { DomainsPage } from "./pages/domains.tsx";
import { InvitePage } from "./pages/invite.tsx";
import { LinkPage } from "./pages/link.tsx";
import { NewSitePage } from "./pages/new-site.tsx";
import { SettingsPage } from "./pages/settings.tsx";
import { SignInPage } from "./pages/sign-in.tsx";
import { SiteDeploysPage, SiteLayout } from "./pages/site.tsx";
import { SitesPage } from "./pages/sites.tsx";
import { TokensPage } from "./pages/tokens.tsx";
import { UsersPage } from "./pages/users.tsx";

/**
 * Every page has a stable address; the ones the API hands out open the right page:
 * `admin_url` (`/sites/<name>`), a deploy's `admin_url` and netlify-cli's "Build logs"
 * (`/sites/<name>/deploys/<id>`), commit statuses' `target_url`, invite links (`/invite/<token>`).
 */
const rootRoute = createRootRoute({ component: RootLayout, notFoundComponent: NotFound });

const signIn = createRoute({
  getParentRoute: () => rootRoute,
  path: "/sign-in",
  validateSearch: (search: Record<string, unknown>): { redirect?: string } =>
    typeof search.redirect === "string" ? { redirect: search.redirect } : {},
  component: SignInPage,
});
const invite = createRoute({
  getParentRoute: () => rootRoute,
  path: "/invite/$token",
  component: InvitePage,
});
const home = createRoute({ getParentRoute: () => rootRoute, path: "/", component: SitesPage });
const sites = createRoute({
  getParentRoute: () => rootRoute,
  path: "/sites",
  component: SitesPage,
});
const newSite = createRoute({
  getParentRoute: () => rootRoute,
  path: "/new",
  component: NewSitePage,
});
const site = createRoute({
  getParentRoute: () => rootRoute,
  path: "/sites/$siteName",
  component: SiteLayout,
});
const siteDeploys = createRoute({
  getParentRoute: () => site,
  path: "/",
  component: SiteDeploysPage,
});
const deploy = createRoute({
  getParentRoute: () => site,
  path: "/deploys/$deployId",
  component: DeployPage,
});
const settings = createRoute({
  getParentRoute: () => site,
  path: "/settings",
  component: SettingsPage,
});
const domains = createRoute({
  getParentRoute: () => site,
  path: "/domains",
  component: DomainsPage,
});
const deliveries = createRoute({
  getParentRoute: () => site,
  path: "/deliveries",
  validateSearch: (search: Record<string, unknown>): { outcome?: string; q?: string } => ({
    ...(typeof search.outcome === "string" ? { outcome: search.outcome } : {}),
    ...(typeof search.q === "string" ? { q: search.q } : {}),
  }),
  component: DeliveriesPage,
});
const link = createRoute({ getParentRoute: () => site, path: "/link", component: LinkPage });
const account = createRoute({
  getParentRoute: () => rootRoute,
  path: "/account",
  component: AccountPage,
});
const tokens = createRoute({
  getParentRoute: () => rootRoute,
  path: "/account/tokens",
  component: TokensPage,
});
const audit = createRoute({
  getParentRoute: () => rootRoute,
  path: "/account/audit",
  component: AuditPage,
});
const users = createRoute({
  getParentRoute: () => rootRoute,
  path: "/users",
  component: UsersPage,
});

const routeTree = rootRoute.addChildren([
  signIn,
  invite,
  home,
  sites,
  newSite,
  site.addChildren([siteDeploys, deploy, settings, domains, deliveries, link]),
  account,
  tokens,
  audit,
  users,
]);

export const router = createRouter({ routeTree, defaultPreload: false, scrollRestoration: true });

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
