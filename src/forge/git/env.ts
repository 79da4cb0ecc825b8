/**
 * The one environment every git process of the forge runs in (reads, writes, `init`, the SSH
 * and smart HTTP transports and the hooks they run). It is built from nothing: no variable of
 * the forge process — or of whoever started it — reaches git, so a `GIT_DIR`, `GIT_CONFIG_*` or
 * `GIT_EXEC_PATH` set around the forge cannot redirect or reconfigure it. Configuration comes
 * only from the repository itself and from explicit `-c` / `GIT_CONFIG_COUNT` the forge passes.
 */

/** No home: nothing under it can configure git (no `.gitconfig`, no XDG attributes or ignore files). */
export const GIT_HOME = "/nonexistent";

/**
 * The environment of a git child: PATH (to find git and what the hooks run), a home that does
 * not exist, no system or global config, the C locale (messages and dates as the forge parses
 * them), plus `extra` (variables whose value is `undefined` are left out).
 */
export function gitEnv(
  extra: Readonly<Record<string, string | undefined>> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: GIT_HOME,
    LANG: "C",
    LC_ALL: "C",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
  };
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}
