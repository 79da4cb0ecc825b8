import { PINNED_NETLIFY_CLI } from "../helpers/netlify-cli.ts";
import { netlifyCliStories } from "./netlify-cli-stories.ts";

/**
 * netlify-cli as pinned in package.json (24.11.3, the last line that runs on Node 20), on the
 * Node that runs the tests, through the stories of ./netlify-cli-stories.ts.
 */
netlifyCliStories(PINNED_NETLIFY_CLI);
