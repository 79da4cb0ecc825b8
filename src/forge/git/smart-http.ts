import type { ForgeContext } from "../context.ts";
import type { ForgeApp } from "../http/app.ts";

// IN PROGRESS (being written now).
export function smartHttpRoutes(_app: ForgeApp, _ctx: ForgeContext): void {}
