/** The job queue that obtains and renews a site's certificate (payload `{siteId, force?}`). */
export const CERTIFICATE_QUEUE = "certificate";
