/**
 * The floor of any HTTP upload server on this machine, for `bench/api-deploy.ts`: a bare
 * `node:http` server that takes `PUT /<dir>/<anything>` bodies, hashes each (SHA-1) while
 * writing it to a temp file in `BARE_ROOT/<dir>` (which the benchmark made), renames it under
 * its digest (no fsync each), and answers a small JSON; `POST /__sync` makes everything durable
 * with one `sync -f`. No routing, authentication or database.
 * Run as a child: `node --import tsx bench/lib/bare-upload-server.ts` with BARE_ROOT and BARE_PORT.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { open, rename } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";

const root = process.env.BARE_ROOT!;
let next = 0;

createServer((req, res) => {
  if (req.method === "POST" && req.url === "/__sync") {
    execFile("sync", ["-f", root], (error) => {
      res.writeHead(error ? 500 : 200).end();
    });
    return;
  }
  const dir = /^\/(r[0-9]+)\//.exec(req.url ?? "")?.[1];
  if (dir === undefined) {
    res.writeHead(404).end();
    return;
  }
  void (async () => {
    const temp = join(root, dir, `.tmp-${next++}`);
    const file = await open(temp, "wx");
    const hash = createHash("sha1");
    let size = 0;
    for await (const chunk of req) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      await file.write(chunk as Buffer);
    }
    await file.close();
    const sha1 = hash.digest("hex");
    await rename(temp, join(root, dir, sha1));
    const body = JSON.stringify({ sha1, size });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  })().catch(() => res.writeHead(500).end());
}).listen(Number(process.env.BARE_PORT), "127.0.0.1");
