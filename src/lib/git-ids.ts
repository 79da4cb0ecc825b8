/**
 * A full git object id as git prints it: 40 lowercase hex digits (SHA-1) or 64 (SHA-256, for
 * repositories in that object format). `GIT_OBJECT_ID_SOURCE` is the unanchored pattern, for
 * larger patterns that contain ids.
 */
export const GIT_OBJECT_ID_SOURCE = "(?:[0-9a-f]{40}|[0-9a-f]{64})";

export const GIT_OBJECT_ID = new RegExp(`^${GIT_OBJECT_ID_SOURCE}$`);

export const isGitObjectId = (value: string): boolean => GIT_OBJECT_ID.test(value);
