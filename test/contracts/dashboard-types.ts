/**
 * The dashboard's hand-written API shapes (web/src/lib/types.ts) checked against the
 * presenters' at compile time: a field the server renames, drops or retypes fails
 * `npm run typecheck` here instead of the dashboard at run time. The dashboard may read a
 * subset; every field it declares (optional ones too, nested objects and array items
 * included) must exist in the server's shape with a type the dashboard's accepts.
 *
 * Types only: nothing here runs, and the web build imports no server code.
 */
import type { AccessTokenJson } from "../../src/platform/api/access-tokens/presenter.ts";
import type { AccountJson } from "../../src/platform/api/accounts/presenter.ts";
import type { AuditEntryJson } from "../../src/platform/api/audit/presenter.ts";
import type { BuildHookJson } from "../../src/platform/api/build-hooks/presenter.ts";
import type { BuildJson, LogLine as LogLineJson } from "../../src/platform/api/builds/presenter.ts";
import type { DeployKeyJson } from "../../src/platform/api/deploy-keys/presenter.ts";
import type { DeployJson } from "../../src/platform/api/deploys/presenter.ts";
import type { CertificateJson, DomainJson } from "../../src/platform/api/domains/presenter.ts";
import type { EnvVarJson } from "../../src/platform/api/env/presenter.ts";
import type {
  BranchJson,
  BuildSettingsJson,
  GitConnectionJson,
  ProviderRepoJson,
} from "../../src/platform/api/git-connections/presenter.ts";
import type { AdminUserJson } from "../../src/platform/api/passwords/presenter.ts";
import type { SessionJson } from "../../src/platform/api/session/presenter.ts";
import type { SiteLinkJson } from "../../src/platform/api/site-link/presenter.ts";
import type { SiteJson } from "../../src/platform/api/sites/presenter.ts";
import type { UserJson } from "../../src/platform/api/users/presenter.ts";
import type { DeliveryJson } from "../../src/platform/api/webhooks/presenter.ts";
import type {
  HealthItem as HealthItemJson,
  LinkHealth as LinkHealthJson,
} from "../../src/platform/links/health.ts";
import type { LinkStep as LinkStepJson } from "../../src/platform/links/steps.ts";
import type * as Web from "../../web/src/lib/types.ts";

/** The fields a type names (an index signature names none). */
type Named<T> = keyof { [K in keyof T as string extends K ? never : K]: T[K] } & string;

/**
 * The paths of the fields the dashboard declares (`D`) that the server's shape (`S`) lacks, or
 * gives a type the dashboard's does not accept; `never` when there are none.
 */
export type Drift<S, D, P extends string = ""> = {
  [K in Named<D>]-?: K extends keyof S ? FieldDrift<S[K], D[K], `${P}${K}`> : `${P}${K} (missing)`;
}[Named<D>];

// Assignability alone would let a nested object miss a field the dashboard declares optional:
// an assignable object (or array item) is walked too. One that is not is walked to name the
// nested field at fault; the field itself is named when that finds none (null, say).
type FieldDrift<S, D, P extends string> = [S] extends [D]
  ? Inner<NonNullable<S>, NonNullable<D>, P>
  : OrElse<Inner<NonNullable<S>, NonNullable<D>, P>, P>;

type OrElse<T, P> = [T] extends [never] ? P : T;

type Inner<S, D, P extends string> = [D] extends [readonly (infer DI)[]]
  ? [S] extends [readonly (infer SI)[]]
    ? FieldDrift<SI, DI, `${P}[]`>
    : never
  : [D] extends [object]
    ? Drift<S, D, `${P}.`>
    : never;

/** Compiles only when no field drifts; the error names the drifting fields' paths. */
type Holds<T extends never> = T;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type True<T extends true> = T;

/** The helper itself catches what it is for (so it cannot quietly pass everything). */
export type HelperChecks = [
  True<Same<Drift<{ a: number }, { b: number }>, "b (missing)">>,
  True<Same<Drift<{ a: string | null }, { a: string }>, "a">>,
  True<Same<Drift<{ a: { b: number } | null }, { a: { b: string } }>, "a.b">>,
  True<Same<Drift<{ a: { b: string } | null }, { a: { b: string } }>, "a">>,
  True<Same<Drift<{ a: { b: string }[] }, { a: { b: string; c?: string }[] }>, "a[].c (missing)">>,
  True<Same<Drift<{ a: { b: 1 } | null; x: 2 }, { a: { b: number } | null }>, never>>,
];

/** Each dashboard interface that mirrors an API response, against the presenter it mirrors. */
export type DashboardContract = [
  Holds<Drift<UserJson, Web.User>>,
  Holds<Drift<SessionJson, Web.SessionInfo>>,
  Holds<Drift<DeployJson, Web.Deploy>>,
  Holds<Drift<SiteJson["build_settings"], Web.BuildSettings>>,
  Holds<Drift<SiteJson, Web.Site>>,
  Holds<Drift<DomainJson, Web.SiteDomain>>,
  Holds<Drift<CertificateJson, Web.Certificate>>,
  Holds<Drift<BuildSettingsJson, Web.DetectedBuildSettings>>,
  Holds<Drift<BuildJson, Web.Build>>,
  Holds<Drift<LogLineJson, Web.LogLine>>,
  Holds<Drift<DeliveryJson, Web.Delivery>>,
  Holds<Drift<HealthItemJson, Web.HealthItem>>,
  Holds<Drift<LinkHealthJson, Web.LinkHealth>>,
  Holds<Drift<LinkStepJson, Web.LinkStep>>,
  Holds<Drift<SiteLinkJson, Web.SiteLink>>,
  Holds<Drift<GitConnectionJson, Web.GitConnection>>,
  Holds<Drift<ProviderRepoJson, Web.ProviderRepo>>,
  Holds<Drift<BranchJson, Web.ProviderBranch>>,
  Holds<Drift<EnvVarJson["values"][number], Web.EnvValue>>,
  Holds<Drift<EnvVarJson, Web.EnvVar>>,
  Holds<Drift<BuildHookJson, Web.BuildHook>>,
  Holds<Drift<AccessTokenJson, Web.AccessToken>>,
  Holds<Drift<AdminUserJson, Web.AdminUser>>,
  Holds<Drift<DeployKeyJson, Web.DeployKey>>,
  Holds<Drift<AccountJson, Web.AccountSummary>>,
  Holds<Drift<AuditEntryJson, Web.AuditEntry>>,
];
