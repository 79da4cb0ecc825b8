import type { ServerResponse } from "node:http";

/**
 * The page a visitor of a password-protected site sees: one field, posted back to the same URL.
 * No script, nothing loaded from elsewhere (its CSP says so), and nothing about the site.
 */
export function passwordPage(
  res: ServerResponse,
  status: 401 | 429,
  head: boolean,
  options: { message?: string; extra?: string[] },
): void {
  const message =
    options.message === undefined ? "" : `<p role="alert">${escapeHtml(options.message)}</p>`;
  const body = Buffer.from(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Password required</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:15vh auto;padding:0 1rem}input,button{font:inherit;padding:.4rem}</style>
</head>
<body>
<main>
<h1>Password required</h1>
<p>This site is protected. Enter its password to continue.</p>
${message}
<form method="post">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Continue</button>
</form>
</main>
</body>
</html>
`);
  res.writeHead(status, [
    "content-type",
    "text/html; charset=utf-8",
    "content-length",
    String(body.length),
    "content-security-policy",
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "x-frame-options",
    "DENY",
    ...(options.extra ?? []),
  ]);
  res.end(head ? undefined : body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
