import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig } from "../../config.ts";

describe("deploy notification settings", () => {
  it("reads the SMTP server, its sender and the receivers allowed on private networks", () => {
    const { notifications } = loadConfig({
      SLIPWAY_SMTP_URL: "smtp://mailer:hunter2@mail.internal:587",
      SLIPWAY_SMTP_FROM: "deploys@example.com",
      SLIPWAY_ALLOW_PRIVATE_NOTIFICATION_HOSTS: "hooks.internal:8443, 10.0.0.9",
    }).platform;
    assert.deepEqual(notifications, {
      smtpUrl: "smtp://mailer:hunter2@mail.internal:587",
      smtpFrom: "deploys@example.com",
      allowedPrivateHosts: ["hooks.internal:8443", "10.0.0.9"],
    });
    assert.deepEqual(loadConfig({}).platform.notifications, {
      smtpUrl: undefined,
      smtpFrom: undefined,
      allowedPrivateHosts: [],
    });
  });

  it("refuses a bad SMTP URL without repeating its password", () => {
    for (const url of ["http://mailer:hunter2@mail.internal", "smtp://", "mail.internal:25"]) {
      assert.throws(
        () => loadConfig({ SLIPWAY_SMTP_URL: url }),
        (error: unknown) =>
          error instanceof ConfigError &&
          /SLIPWAY_SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/.test(error.message) &&
          !error.message.includes("hunter2"),
        url,
      );
    }
    assert.throws(() => loadConfig({ SLIPWAY_SMTP_FROM: "not an address" }), /SLIPWAY_SMTP_FROM/);
  });
});
