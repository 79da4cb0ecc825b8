import { generateKeyPairSync } from "node:crypto";
import { it } from "node:test";
import { startGitHubFake } from "/work/main/test/fakes/github/fake.ts";
import { poll } from "/work/main/test/helpers/e2e.ts";
import { startTestPlatform } from "/work/main/test/helpers/platform.ts";

it("diag", async () => {
  const gh = await startGitHubFake();
  const t = await startTestPlatform({ config: { allowedPrivateRepoHosts: ["127.0.0.1", "localhost"], builds: { workers: 1, timeoutSeconds: 60, unsafeNoSandbox: false } }, platform: { gitCaFile: gh.caFile } });
  const alice = await t.createTenant("alice");
  await gh.addRepo("octo", "site");
  await gh.commit("octo/site", { "index.html": "x\n" });
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const appId = gh.addApp({ slug: "a", owner: "octo", publicKey }).id;
  const inst = gh.installApp(appId, "octo").id;
  await t.api("POST", "/git_connections", { token: alice.token, body: { provider: "github", base_url: gh.url, app_id: appId, private_key: privateKey.export({ format: "pem", type: "pkcs1" }).toString() } });
  const t0 = Date.now();
  const res = await t.api<any>("POST", "/sites", { token: alice.token, body: { repo: { provider: "github", repo_url: `${gh.gitUrl}/octo/site.git`, cmd: "mkdir -p dist && cp index.html dist/", dir: "dist", installation_id: inst } } });
  console.error("create", Date.now() - t0, res.status);
  const b = await poll(async () => { const x = await t.api<any>("GET", `/builds/${res.body.build_id}`, { token: alice.token }); return x.body.done ? x.body : undefined; }, "b", 60000);
  console.error("built", Date.now() - t0, b.state, b.created_at, b.started_at, b.finished_at);
  const log = await t.api<any[]>("GET", `/builds/${b.id}/log`, { token: alice.token });
  for (const l of log.body) console.error(l.time, l.message.slice(0, 100));
  await t.stop(); await gh.close();
});
