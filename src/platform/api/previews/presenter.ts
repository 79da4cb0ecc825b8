import type { PlatformConfig } from "../../../config.ts";
import type { Deploy } from "../../db/schema.ts";
import { presentDeploy } from "../deploys/presenter.ts";
import { siteUrl } from "../../sites/urls.ts";
import { previewLabel } from "../../sites/review-refs.ts";

/**
 * A deploy preview: Netlify's deploy plus its request (`review_id`, `review_url`, whether it is
 * still open) and who approved it, and the preview's own URL (`deploy-preview-<n>--<site>`).
 */
export function presentPreview(config: PlatformConfig, deploy: Deploy, siteName: string) {
  return {
    ...presentDeploy(config, deploy, siteName),
    review_id: deploy.review_id,
    review_url: deploy.review_url,
    review_state: deploy.review_state,
    approved_by: deploy.approved_by,
    links: {
      preview:
        deploy.review_id === null
          ? null
          : siteUrl(config, `${previewLabel(deploy.review_id)}--${siteName}`),
    },
  };
}
