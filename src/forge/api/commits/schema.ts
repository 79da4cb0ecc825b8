import { Type } from "typebox";

/** `:sha` is a commit id (full or abbreviated) or a branch or tag name, URL-encoded. */
export const CommitParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 500 }),
  sha: Type.String({ minLength: 1, maxLength: 255 }),
});

/** `stats` (default true) adds the line counts against the first parent. */
export const ShowCommitQuery = Type.Object({
  stats: Type.Optional(Type.Boolean()),
});
