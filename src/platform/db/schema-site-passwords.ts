/** A protected site: its visitors' password (a sealed scrypt hash) and which deploys it covers. */
export interface SitePasswordsTable {
  site_id: string;
  /** `scrypt$…` sealed with `site_password:<site id>`; a new one logs every visitor out. */
  password_hash_sealed: string;
  /** `all`, or `non_production` (deploy previews, branch deploys and deploy permalinks). */
  context: "all" | "non_production";
  updated_at: string;
}
