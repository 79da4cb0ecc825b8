import type { ForgeContext } from "../context.ts";
import type { HookDispatcher } from "./dispatcher.ts";

// IN PROGRESS (being written now).
export function createHookDispatcher(_ctx: Omit<ForgeContext, "hooks">): HookDispatcher {
  return { recordPush: async () => {}, start: () => {}, stop: async () => {} };
}
