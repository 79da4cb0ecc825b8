import { Type } from "typebox";

/** `:file_path` is the file's whole path, URL-encoded (`src%2Findex.html`). */
export const RawFileParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  file_path: Type.String({ minLength: 1, maxLength: 4096 }),
});

/**
 * `ref`: a branch, tag or commit; the project's default branch when absent. `lfs` is accepted
 * as GitLab's clients send it; the forge stores no LFS objects, so files are always the blob.
 */
export const RawFileQuery = Type.Object({
  ref: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  lfs: Type.Optional(Type.Boolean()),
});
