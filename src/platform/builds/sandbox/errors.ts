/** This machine cannot run the build as configured (a tool is missing, no root); says how to fix it. */
export class SandboxUnavailableError extends Error {
  override name = "SandboxUnavailableError";
}

/** Options the sandbox refuses (a bad path, variable name or limit): a bug or a bad site setting. */
export class SandboxConfigError extends Error {
  override name = "SandboxConfigError";
}
