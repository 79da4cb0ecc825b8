import { withoutControlCharacters } from "../../lib/text.ts";

/**
 * Who wrote a commit and what its message says, read from the raw commit object
 * (`git cat-file commit <sha>`), for a deploy's `committer` and `title`. Both are text from the
 * repository: one line, control characters replaced, capped.
 */

export interface CommitInfo {
  /** The author's name (without the address), or null when the commit has none. */
  author: string | null;
  /** The message's first line, or null when it is empty. */
  subject: string | null;
}

/** Longest author or subject kept (the length of the deploy's `title` elsewhere). */
export const MAX_COMMIT_TEXT = 255;

function oneLine(value: string): string | null {
  const line = withoutControlCharacters(value, { collapse: true }).trim();
  if (line === "") return null;
  return line.length > MAX_COMMIT_TEXT ? `${line.slice(0, MAX_COMMIT_TEXT - 1)}…` : line;
}

/** Reads a raw commit object: its `author Name <email> time zone` header and its message. */
export function parseCommitObject(raw: string): CommitInfo {
  const split = raw.indexOf("\n\n");
  const headers = split === -1 ? raw : raw.slice(0, split);
  const message = split === -1 ? "" : raw.slice(split + 2);
  const authorLine = headers.split("\n").find((line) => line.startsWith("author "));
  const author = authorLine === undefined ? null : /^author (.*?) <[^>]*> /.exec(authorLine);
  return {
    author: author?.[1] === undefined ? null : oneLine(author[1]),
    subject: oneLine(message.split("\n").find((line) => line.trim() !== "") ?? ""),
  };
}
