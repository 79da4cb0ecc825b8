import { sha1 } from "./digests.ts";

/**
 * A deploy by Netlify's digest protocol, as `netlify deploy` makes one: create, declare every
 * file's SHA-1, upload what the platform says it lacks. Throws on any answer but success.
 */
export async function digestDeploy(options: {
  /** The platform's base URL (API at `/api/v1`). */
  url: string;
  token: string;
  siteId: string;
  files: Readonly<Record<string, string | Buffer>>;
}): Promise<{ id: string; required: string[] }> {
  const { url, token, siteId, files } = options;
  const call = async <T>(method: string, path: string, body: unknown): Promise<T> => {
    const response = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const created = await call<{ id: string }>("POST", `/sites/${siteId}/deploys`, {
    draft: false,
  });
  const digests = Object.fromEntries(Object.entries(files).map(([p, d]) => [p, sha1(d)]));
  const { required } = await call<{ required: string[] }>(
    "PUT",
    `/sites/${siteId}/deploys/${created.id}`,
    { files: digests, async: false },
  );
  for (const [path, data] of Object.entries(files)) {
    if (!required.includes(sha1(data))) continue;
    const response = await fetch(`${url}/api/v1/deploys/${created.id}/files/${path}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body: data,
    });
    if (!response.ok) throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
  }
  return { id: created.id, required };
}
