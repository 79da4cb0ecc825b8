export const PROJECT_ROOT: URL;
export const BUNDLE_DIR: URL;
export function currentBundle(dir?: URL, root?: URL): string | undefined;
